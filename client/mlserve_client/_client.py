"""The entry points: `Client(base_url)` and `AsyncClient(base_url)`, one attribute per service,
e.g. `client.churn.v2`; both keep one pooled connection per host for all their calls."""

from __future__ import annotations

import asyncio
import importlib
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from mlserve_client._base import AsyncServiceClient, ServiceClient, Session, _Service
from mlserve_client._batch import Queues
from mlserve_client._http import (
    DEFAULT_MAX_BODY_BYTES,
    AsyncHttpxTransport,
    AsyncSender,
    AsyncTransport,
    Auth,
    HttpxTransport,
    RetryPolicy,
    Sender,
    Transport,
)
from mlserve_client._services import AsyncServices, Services
from mlserve_client._versions import SUPPORTED, attribute_name


def _attach_services(
    owner: Any,
    session: Session[Any],
    flavor: type[_Service[Any, Any]],
    default_versions: Mapping[str, int | str] | None,
) -> dict[str, _Service[Any, Any]]:
    """One client per service, set on `owner`, with the default majors asked for."""
    defaults = {key: int(str(value).removeprefix("v")) for key, value in
                (default_versions or {}).items()}  # fmt: skip
    services: dict[str, _Service[Any, Any]] = {}
    for service in dict.fromkeys(row.service for row in SUPPORTED):
        client = _service_class(service, flavor)(session, defaults.pop(service, None))
        services[service] = client
        setattr(owner, attribute_name(service), client)
    if defaults:
        raise ValueError(f"default_versions names unknown services: {', '.join(defaults)}")
    return services


def _checked(base_url: str, timeout: float, retries: int) -> None:
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"base_url {base_url!r} must start with http:// or https://")
    if timeout <= 0 or retries < 0:
        raise ValueError("timeout must be positive and retries zero or more")


class Client(Services):
    """A client of one mlserve API (one stack), e.g. `Client("https://models.example.com")`.

    `timeout` bounds each call as a whole: connecting, every read, retries and their waits.
    `app` names the calling application in the User-Agent, so the platform can tell who still
    calls a deprecated version. `queues` (the stack's `queues` output) lets queue majors take
    batches (`submit_batch`, `results`), through `sqs` or boto3's default SQS client."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        auth: Auth | None = None,
        default_versions: Mapping[str, int | str] | None = None,
        app: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        queues: Mapping[str, Mapping[str, str]] | None = None,
        sqs: Any = None,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        _checked(base_url, timeout, retries)
        self._transport = transport or HttpxTransport(max_body_bytes=max_body_bytes)
        sender = Sender(
            transport=self._transport, timeout=timeout, policy=RetryPolicy(retries=retries),
            auth=auth, sleep=sleep, rng=rng or random.Random(), clock=clock,
        )  # fmt: skip
        self._session = Session(base_url, sender, app, Queues(queues, sqs))
        self._services = _attach_services(self, self._session, ServiceClient, default_versions)

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._session.base_url

    def service(self, name: str) -> ServiceClient:
        """A service by its key (`fraud-score`) or attribute name (`fraud_score`)."""
        return _find(self._services, name)  # type: ignore[return-value]

    def close(self) -> None:
        """Close the pooled connections (when the client made its own transport)."""
        close = getattr(self._transport, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(AsyncServices):
    """The async client: `await AsyncClient(url).churn.v2.predict(...)`, the same surface."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        auth: Auth | None = None,
        default_versions: Mapping[str, int | str] | None = None,
        app: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        queues: Mapping[str, Mapping[str, str]] | None = None,
        sqs: Any = None,
        transport: AsyncTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        _checked(base_url, timeout, retries)
        self._transport = transport or AsyncHttpxTransport(max_body_bytes=max_body_bytes)
        sender = AsyncSender(
            transport=self._transport, timeout=timeout, policy=RetryPolicy(retries=retries),
            auth=auth, sleep=sleep, rng=rng or random.Random(), clock=clock,
        )  # fmt: skip
        self._session = Session(base_url, sender, app, Queues(queues, sqs))
        self._services = _attach_services(self, self._session, AsyncServiceClient, default_versions)

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._session.base_url

    def service(self, name: str) -> AsyncServiceClient:
        """A service by its key (`fraud-score`) or attribute name (`fraud_score`)."""
        return _find(self._services, name)  # type: ignore[return-value]

    async def aclose(self) -> None:
        """Close the pooled connections (when the client made its own transport)."""
        close = getattr(self._transport, "aclose", None)
        if callable(close):
            await close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _find(services: Mapping[str, _Service[Any, Any]], name: str) -> _Service[Any, Any]:
    for key, service_client in services.items():
        if name in (key, attribute_name(key)):
            return service_client
    raise KeyError(f"unknown service {name!r}; known: {', '.join(services)}")


def _service_class(service: str, flavor: type[_Service[Any, Any]]) -> type[_Service[Any, Any]]:
    module = importlib.import_module(f"mlserve_client.{attribute_name(service)}")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, flavor)
            and getattr(value, "name", None) == service
        ):
            return value
    raise LookupError(f"{module.__name__} defines no {flavor.__name__} for {service!r}")
