"""The entry point: `Client(base_url)` with one attribute per service, e.g. `client.churn.v2`."""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from mlserve_client._base import ServiceClient, Session
from mlserve_client._http import Auth, RetryPolicy, Sender, Transport, UrllibTransport
from mlserve_client._versions import SUPPORTED, attribute_name
from mlserve_client.churn import ChurnService
from mlserve_client.sentiment import SentimentService


class Client:
    """A client of one mlserve API (one stack), e.g. `Client("https://models.example.com")`."""

    churn: ChurnService
    sentiment: SentimentService

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        auth: Auth | None = None,
        default_versions: Mapping[str, int | str] | None = None,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        user_agent: str | None = None,
    ) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"base_url {base_url!r} must start with http:// or https://")
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be positive and retries zero or more")
        sender = Sender(
            transport=transport or UrllibTransport(),
            timeout=timeout,
            policy=RetryPolicy(retries=retries),
            auth=auth,
            sleep=sleep,
            rng=rng or random.Random(),
        )
        self._session = Session(base_url, sender, user_agent)
        defaults = {key: int(str(value).removeprefix("v")) for key, value in
                    (default_versions or {}).items()}  # fmt: skip
        self._services: dict[str, ServiceClient] = {}
        for service in dict.fromkeys(row.service for row in SUPPORTED):
            service_client = _service_class(service)(self._session, defaults.pop(service, None))
            self._services[service] = service_client
            setattr(self, attribute_name(service), service_client)
        if defaults:
            raise ValueError(f"default_versions names unknown services: {', '.join(defaults)}")

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self._session.base_url

    def service(self, name: str) -> ServiceClient:
        """A service by its key (`fraud-score`) or attribute name (`fraud_score`)."""
        for key, service_client in self._services.items():
            if name in (key, attribute_name(key)):
                return service_client
        raise KeyError(f"unknown service {name!r}; known: {', '.join(self._services)}")


def _service_class(service: str) -> type[ServiceClient]:
    module = importlib.import_module(f"mlserve_client.{attribute_name(service)}")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, ServiceClient)
            and (getattr(value, "name", None) == service)
        ):
            return value
    raise LookupError(f"{module.__name__} defines no ServiceClient for {service!r}")
