"""sentiment v1: one text in, the probability that it is positive out."""

from __future__ import annotations

from pathlib import Path

import contract
from contract import PredictRequest, PredictResponse
from model import SentimentModel

from mlserve_runtime.artifacts import load_weights
from mlserve_runtime.service import serve

WEIGHTS, CARD = load_weights(Path(__file__).with_name("weights.json"))
MODEL = SentimentModel(WEIGHTS)


def predict(request: PredictRequest) -> PredictResponse:
    """The sentiment score of one text."""
    return PredictResponse(score=round(MODEL.score(request.text), 6))


handler = serve(contract, {"POST /predict": predict}, CARD)
