"""sentiment v1 contract: one text in, a sentiment score out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PredictRequest(BaseModel):
    """One customer message."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(min_length=1, max_length=5_000)


class PredictResponse(BaseModel):
    """The probability that the message is positive."""

    model_config = ConfigDict(extra="allow")

    score: float = Field(ge=0, le=1)
