"""sentiment v2: a batch of texts in, a positive/negative label and score per text out."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import contract
from contract import ModelInfo, PredictRequest, PredictResponse, Sentiment
from model import THRESHOLD, SentimentModel

from mlserve_runtime.artifacts import load_weights
from mlserve_runtime.service import serve

WEIGHTS, CARD = load_weights(Path(__file__).with_name("weights.json"))
MODEL = SentimentModel(WEIGHTS)
INFO = ModelInfo(name=CARD.name, version="v2", digest=CARD.digest, trained_on=CARD.trained_on)


def sentiment(score: float) -> Sentiment:
    """The label at the threshold and the rounded score."""
    label: Literal["positive", "negative"] = "positive" if score >= THRESHOLD else "negative"
    return Sentiment(label=label, score=round(score, 6))


def predict(request: PredictRequest) -> PredictResponse:
    """Label and score of every text, in request order."""
    return PredictResponse(
        results=[sentiment(MODEL.score(text)) for text in request.texts], model=INFO
    )


handler = serve(contract, {"POST /predict": predict}, CARD)
