"""churn v1 models and client, written against services/churn/v1/contract.py. Deprecated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from mlserve_client._base import VersionClient
from mlserve_client._models import RequestModel, ResponseModel

Feature = Annotated[float, Field(ge=0, le=1_000_000)]


class PredictRequest(RequestModel):
    """One customer as [monthly_charges, support_calls, days_since_last_login, contract_months]."""

    model_config = ConfigDict(strict=True, allow_inf_nan=False)

    features: list[Feature] = Field(min_length=4, max_length=4)


class PredictResponse(ResponseModel):
    """The probability that the customer churns within the quarter."""

    probability: float = Field(ge=0, le=1)


class ChurnV1(VersionClient):
    """Deprecated: churn v1 (see `.deprecation` for the sunset; migrate to `client.churn.v2`)."""

    service = "churn"
    major = 1

    def predict(self, request: PredictRequest | Mapping[str, Any]) -> PredictResponse:
        """POST /churn/v1/predict."""
        return self._predict(PredictRequest, PredictResponse, request)
