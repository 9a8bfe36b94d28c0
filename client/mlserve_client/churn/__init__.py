"""The churn service: `client.churn.v1` (deprecated) and `client.churn.v2`."""

from __future__ import annotations

from mlserve_client._base import ServiceClient
from mlserve_client.churn.v1 import ChurnV1
from mlserve_client.churn.v2 import ChurnV2


class ChurnService(ServiceClient):
    """Customer churn probability, one property per supported major."""

    name = "churn"

    @property
    def v1(self) -> ChurnV1:
        """Deprecated: churn v1; migrate to `v2`."""
        return self._get(ChurnV1)

    @property
    def v2(self) -> ChurnV2:
        """churn v2, the recommended major."""
        return self._get(ChurnV2)


__all__ = ["ChurnService", "ChurnV1", "ChurnV2"]
