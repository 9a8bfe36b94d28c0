"""churn v2 contract: named, typed customer features in; probability, label and model out."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# What this version answers, read by the program, the tooling and the runtime (a literal, so it is
# read without importing anything); health and metadata come with every version. The example is
# what the pre-traffic check sends a new Lambda version before it gets any traffic.
SURFACE = {
    "service": "churn",
    "version": "v2",
    "routes": {
        "POST /predict": {
            "request": "PredictRequest",
            "response": "PredictResponse",
            "example": {
                "features": {
                    "monthly_charges": 89.5,
                    "support_calls": 4,
                    "days_since_last_login": 30,
                    "tenure_months": 3,
                    "contract": "monthly",
                }
            },
        }
    },
}


class CustomerFeatures(BaseModel):
    """One customer; `tenure_months` is new and required in v2 (the breaking change from v1)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    monthly_charges: float = Field(ge=0, le=100_000)
    support_calls: int = Field(ge=0, le=1_000)
    days_since_last_login: int = Field(ge=0, le=36_500)
    tenure_months: int = Field(ge=0, le=1_200)
    contract: Literal["monthly", "annual", "two_year"]


class PredictRequest(BaseModel):
    """A churn prediction request."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    features: CustomerFeatures


class ModelInfo(BaseModel):
    """The model that answered: its name, API version, weights digest and training date."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    digest: str
    trained_on: str


class PredictResponse(BaseModel):
    """P(churn within the quarter) and the label at the 0.5 threshold."""

    model_config = ConfigDict(extra="allow")

    probability: float = Field(ge=0, le=1)
    label: Literal["churn", "stay"]
    model: ModelInfo
