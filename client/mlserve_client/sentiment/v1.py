"""sentiment v1 models and client, written against services/sentiment/v1/contract.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, Field

from mlserve_client._base import VersionClient
from mlserve_client._models import RequestModel, ResponseModel


class PredictRequest(RequestModel):
    """One customer message."""

    model_config = ConfigDict(strict=True)

    text: str = Field(min_length=1, max_length=5_000)


class PredictResponse(ResponseModel):
    """The probability that the message is positive."""

    score: float = Field(ge=0, le=1)


class SentimentV1(VersionClient):
    """sentiment v1: one text in, a sentiment score out (deprecation scheduled, see the table)."""

    service = "sentiment"
    major = 1

    def predict(self, request: PredictRequest | Mapping[str, Any]) -> PredictResponse:
        """POST /sentiment/v1/predict."""
        return self._predict(PredictRequest, PredictResponse, request)
