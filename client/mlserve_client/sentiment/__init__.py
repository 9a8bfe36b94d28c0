"""The sentiment service: `client.sentiment.v1` and `client.sentiment.v2`."""

from __future__ import annotations

from mlserve_client._base import ServiceClient
from mlserve_client.sentiment.v1 import SentimentV1
from mlserve_client.sentiment.v2 import SentimentV2


class SentimentService(ServiceClient):
    """Sentiment of customer messages, one property per supported major."""

    name = "sentiment"

    @property
    def v1(self) -> SentimentV1:
        """sentiment v1; its deprecation is scheduled, prefer `v2`."""
        return self._get(SentimentV1)

    @property
    def v2(self) -> SentimentV2:
        """sentiment v2, the recommended major."""
        return self._get(SentimentV2)


__all__ = ["SentimentService", "SentimentV1", "SentimentV2"]
