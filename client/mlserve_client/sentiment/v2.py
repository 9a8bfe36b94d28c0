"""sentiment v2 models and client, written against services/sentiment/v2/contract.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from mlserve_client._base import VersionClient
from mlserve_client._models import RequestModel, ResponseModel

Text = Annotated[str, Field(min_length=1, max_length=5_000)]


class PredictRequest(RequestModel):
    """Up to 64 customer messages (the body must also fit the server's 64 KiB limit)."""

    model_config = ConfigDict(strict=True)

    texts: list[Text] = Field(min_length=1, max_length=64)


class Sentiment(ResponseModel):
    """One text's label and the probability that it is positive."""

    label: Literal["positive", "negative"]
    score: float = Field(ge=0, le=1)


class ModelInfo(ResponseModel):
    """The model that answered: name, API version, weights digest and training date."""

    name: str
    version: str
    digest: str
    trained_on: str


class PredictResponse(ResponseModel):
    """One result per text, in request order."""

    results: list[Sentiment]
    model: ModelInfo


class SentimentV2(VersionClient):
    """sentiment v2: a batch of texts in, a label and score per text out."""

    service = "sentiment"
    major = 2

    def predict(self, request: PredictRequest | Mapping[str, Any]) -> PredictResponse:
        """POST /sentiment/v2/predict."""
        return self._predict(PredictRequest, PredictResponse, request)
