"""churn v1 contract: four numbers in, a churn probability out."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# What this version answers, read by the program, the tooling and the runtime (a literal, so it is
# read without importing anything); health and metadata come with every version. The example is
# what the pre-traffic check sends a new Lambda version before it gets any traffic.
SURFACE = {
    "service": "churn",
    "version": "v1",
    "routes": {
        "POST /predict": {
            "request": "PredictRequest",
            "response": "PredictResponse",
            "example": {"features": [89.5, 4.0, 30.0, 1.0]},
        }
    },
}

Feature = Annotated[float, Field(ge=0, le=1_000_000)]


class PredictRequest(BaseModel):
    """One customer as [monthly_charges, support_calls, days_since_last_login, contract_months]."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    features: list[Feature] = Field(min_length=4, max_length=4)


class PredictResponse(BaseModel):
    """The probability that the customer churns within the quarter."""

    model_config = ConfigDict(extra="allow")

    probability: float = Field(ge=0, le=1)
