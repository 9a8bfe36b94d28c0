"""churn v2: named, typed features incl. tenure_months in; probability, label and model out."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import contract
from contract import ModelInfo, PredictRequest, PredictResponse
from model import THRESHOLD, ChurnModel, encode

from mlserve_runtime.artifacts import load_weights
from mlserve_runtime.service import serve

WEIGHTS, CARD = load_weights(Path(__file__).with_name("weights.json"))
MODEL = ChurnModel(WEIGHTS)
INFO = ModelInfo(name=CARD.name, version="v2", digest=CARD.digest, trained_on=CARD.trained_on)


def predict(request: PredictRequest) -> PredictResponse:
    """P(churn) and label for one customer."""
    probability = MODEL.probability(encode(request.features))
    label: Literal["churn", "stay"] = "churn" if probability >= THRESHOLD else "stay"
    return PredictResponse(probability=round(probability, 6), label=label, model=INFO)


handler = serve(contract, {"POST /predict": predict}, CARD)
