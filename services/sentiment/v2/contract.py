"""sentiment v2 contract: a batch of texts in, a label and score per text out."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# What this version answers, read by the program, the tooling and the runtime (a literal, so it is
# read without importing anything); health and metadata come with every version. The example is
# what the pre-traffic check sends a new Lambda version before it gets any traffic.
SURFACE = {
    "service": "sentiment",
    "version": "v2",
    "routes": {
        "POST /predict": {
            "request": "PredictRequest",
            "response": "PredictResponse",
            "example": {"texts": ["great service, thank you", "awful support"]},
        }
    },
}

Text = Annotated[str, Field(min_length=1, max_length=5_000)]


class PredictRequest(BaseModel):
    """Up to 64 customer messages; the whole body must also fit the 64 KiB request limit."""

    model_config = ConfigDict(extra="forbid", strict=True)

    texts: list[Text] = Field(min_length=1, max_length=64)


class Sentiment(BaseModel):
    """One text's label and the probability that it is positive."""

    model_config = ConfigDict(extra="allow")

    label: Literal["positive", "negative"]
    score: float = Field(ge=0, le=1)


class ModelInfo(BaseModel):
    """The model that answered: its name, API version, weights digest and training date."""

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    digest: str
    trained_on: str


class PredictResponse(BaseModel):
    """One result per text, in request order."""

    model_config = ConfigDict(extra="allow")

    results: list[Sentiment]
    model: ModelInfo
