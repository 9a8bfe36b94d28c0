"""churn v2 models and client, written against services/churn/v2/contract.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field

from mlserve_client._base import VersionClient
from mlserve_client._models import RequestModel, ResponseModel


class CustomerFeatures(RequestModel):
    """One customer's features; `tenure_months` is required from v2 on."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False)

    monthly_charges: float = Field(ge=0, le=100_000)
    support_calls: int = Field(ge=0, le=1_000)
    days_since_last_login: int = Field(ge=0, le=36_500)
    tenure_months: int = Field(ge=0, le=1_200)
    contract: Literal["monthly", "annual", "two_year"]


class PredictRequest(RequestModel):
    """A churn prediction request."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False)

    features: CustomerFeatures


class ModelInfo(ResponseModel):
    """The model that answered: name, API version, weights digest and training date."""

    name: str
    version: str
    digest: str
    trained_on: str


class PredictResponse(ResponseModel):
    """P(churn within the quarter) and the label at the 0.5 threshold."""

    probability: float = Field(ge=0, le=1)
    label: Literal["churn", "stay"]
    model: ModelInfo


class ChurnV2(VersionClient):
    """churn v2: named, typed customer features in; probability, label and model out."""

    service = "churn"
    major = 2

    def predict(self, request: PredictRequest | Mapping[str, Any]) -> PredictResponse:
        """POST /churn/v2/predict."""
        return self._predict(PredictRequest, PredictResponse, request)
