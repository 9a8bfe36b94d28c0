"""Typed client for the mlserve model APIs: `Client(url).churn.v2.predict(...)`."""

from __future__ import annotations

from mlserve_client._about import __version__
from mlserve_client._auth import SigV4Auth
from mlserve_client._base import ServiceClient, VersionClient
from mlserve_client._client import Client
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
    Auth,
    Headers,
    HttpRequest,
    HttpResponse,
    RetryPolicy,
    Transport,
    UrllibTransport,
)
from mlserve_client._lifecycle import Deprecation
from mlserve_client._models import Health, Metadata
from mlserve_client._versions import SUPPORTED, SupportedVersion

__all__ = [
    "SUPPORTED",
    "ApiError",
    "Auth",
    "Client",
    "Deprecation",
    "FieldError",
    "Headers",
    "Health",
    "HttpRequest",
    "HttpResponse",
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
    "UrllibTransport",
    "VersionClient",
    "VersionGoneError",
    "__version__",
]
