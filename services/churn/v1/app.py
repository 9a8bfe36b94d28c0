"""churn v1: four numbers [monthly_charges, support_calls, days_since_last_login,
contract_months] in, churn probability out."""

from __future__ import annotations

from pathlib import Path

import contract
from contract import PredictRequest, PredictResponse
from model import ChurnModel, encode

from mlserve_runtime.artifacts import load_weights
from mlserve_runtime.service import serve

WEIGHTS, CARD = load_weights(Path(__file__).with_name("weights.json"))
MODEL = ChurnModel(WEIGHTS)


def predict(request: PredictRequest) -> PredictResponse:
    """P(churn) for one customer."""
    return PredictResponse(probability=round(MODEL.probability(encode(request.features)), 6))


handler = serve(contract, {"POST /predict": predict}, CARD)
