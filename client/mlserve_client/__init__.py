"""Typed client for the mlserve model APIs: `Client(url).churn.v2.predict(...)`, or awaited
through `AsyncClient(url)`."""

from __future__ import annotations

from mlserve_client._about import __version__
from mlserve_client._auth import SigV4Auth
from mlserve_client._base import (
    AsyncServiceClient,
    AsyncVersionClient,
    ServiceClient,
    VersionClient,
)
from mlserve_client._batch import BatchResult, BatchSubmitError
from mlserve_client._client import AsyncClient, Client
from mlserve_client._errors import (
    ApiError,
    FieldError,
    InvalidRequestError,
    MlserveDeprecationWarning,
    MlserveError,
    TransportError,
    UnexpectedResponseError,
    VersionGoneError,
)
from mlserve_client._http import (
    AsyncHttpxTransport,
    AsyncTransport,
    Auth,
    Headers,
    HttpRequest,
    HttpResponse,
    HttpxTransport,
    RetryPolicy,
    Transport,
)
from mlserve_client._lifecycle import Deprecation
from mlserve_client._models import Health, Metadata
from mlserve_client._versions import SUPPORTED, SupportedVersion

__all__ = [
    "SUPPORTED",
    "ApiError",
    "AsyncClient",
    "AsyncHttpxTransport",
    "AsyncServiceClient",
    "AsyncTransport",
    "AsyncVersionClient",
    "Auth",
    "BatchResult",
    "BatchSubmitError",
    "Client",
    "Deprecation",
    "FieldError",
    "Headers",
    "Health",
    "HttpRequest",
    "HttpResponse",
    "HttpxTransport",
    "InvalidRequestError",
    "Metadata",
    "MlserveDeprecationWarning",
    "MlserveError",
    "RetryPolicy",
    "ServiceClient",
    "SigV4Auth",
    "SupportedVersion",
    "Transport",
    "TransportError",
    "UnexpectedResponseError",
    "VersionClient",
    "VersionGoneError",
    "__version__",
]
