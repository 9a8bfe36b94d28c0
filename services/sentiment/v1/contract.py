"""sentiment v1 contract: one text in, a sentiment score out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# What this version answers, read by the program, the tooling and the runtime (a literal, so it is
# read without importing anything); health and metadata come with every version. The example is
# what the pre-traffic check sends a new Lambda version before it gets any traffic.
SURFACE = {
    "service": "sentiment",
    "version": "v1",
    "routes": {
        "POST /predict": {
            "request": "PredictRequest",
            "response": "PredictResponse",
            "example": {"text": "great service, thank you"},
        }
    },
}


class PredictRequest(BaseModel):
    """One customer message."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(min_length=1, max_length=5_000)


class PredictResponse(BaseModel):
    """The probability that the message is positive."""

    model_config = ConfigDict(extra="allow")

    score: float = Field(ge=0, le=1)
