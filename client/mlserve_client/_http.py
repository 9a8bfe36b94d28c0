"""HTTP plumbing: a swappable transport, timeouts, and retries that only ever repeat GETs."""

from __future__ import annotations

import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol

from mlserve_client._errors import TransportError

log = logging.getLogger("mlserve_client")

RETRYABLE_METHODS = frozenset({"GET"})


class Headers:
    """Case-insensitive response headers that keep repeated fields (e.g. several `Link` lines)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = [(name, value) for name, value in items]

    def get(self, name: str) -> str | None:
        """The field's value, repeated fields joined with ", " as HTTP allows; None if absent."""
        values = self.get_all(name)
        return ", ".join(values) if values else None

    def get_all(self, name: str) -> list[str]:
        """Every value of a field, in order."""
        wanted = name.lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True)
class HttpRequest:
    """One request as it goes on the wire."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class HttpResponse:
    """One response: status, headers and the raw body."""

    status: int
    headers: Headers
    body: bytes


class Transport(Protocol):
    """Sends one request; raises TransportError when no HTTP response came back."""

    def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        """Send the request and return the response, whatever its status."""
        ...


class Auth(Protocol):
    """Adds credentials to a request; called again for every attempt so signatures stay fresh."""

    def sign(self, request: HttpRequest) -> HttpRequest:
        """A copy of the request with its authentication headers added (the input is unchanged)."""
        ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # API Gateway never redirects; a redirect would drop a signed request's auth


class UrllibTransport:
    """The default transport: the standard library, so the client needs no HTTP dependency."""

    def __init__(self) -> None:
        self._opener = urllib.request.build_opener(_NoRedirect())

    def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        """Send the request with urllib; HTTP error statuses are returned, not raised."""
        wire = urllib.request.Request(
            request.url, data=request.body, headers=request.headers, method=request.method
        )
        try:
            with self._opener.open(wire, timeout=timeout) as answer:
                return HttpResponse(answer.status, Headers(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return HttpResponse(error.code, Headers(error.headers.items()), error.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise TransportError(f"{request.method} {request.url}: {reason}") from error


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before repeating a GET; POSTs are never repeated."""

    retries: int = 2
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    max_retry_after: float = 60.0

    def retryable(self, method: str, status: int | None) -> bool:
        """Whether an attempt that ended with this status (None: no response) may be repeated."""
        if method.upper() not in RETRYABLE_METHODS:
            return False
        return status is None or status == 429 or 500 <= status <= 599

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff before retry number `attempt` (0-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return rng.uniform(0, ceiling)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP-date; None when absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        current = now or datetime.now(timezone.utc)
        return max(0.0, (moment - current).total_seconds())
    except (TypeError, ValueError, IndexError, OverflowError):
        log.debug("ignoring malformed Retry-After %r", value)
        return None


@dataclass
class Sender:
    """Sends requests through a transport with timeouts, auth and the retry policy."""

    transport: Transport
    timeout: float
    policy: RetryPolicy
    auth: Auth | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def send(self, request: HttpRequest) -> HttpResponse:
        """The final response after any retries; raises TransportError if none ever came."""
        attempt = 0
        while True:
            wire = request if self.auth is None else self.auth.sign(request)
            try:
                response: HttpResponse | None = self.transport.send(wire, timeout=self.timeout)
                failure: TransportError | None = None
            except TransportError as error:
                response, failure = None, error
            status = response.status if response is not None else None
            if attempt >= self.policy.retries or not self.policy.retryable(request.method, status):
                break
            delay = self._delay(response, attempt)
            if delay is None:
                break
            log.debug(
                "retrying %s %s after %.2fs (attempt %d answered %s)",
                request.method, request.url, delay, attempt + 1, status or failure,
            )  # fmt: skip
            self.sleep(delay)
            attempt += 1
        if response is None:
            assert failure is not None
            raise failure
        return response

    def _delay(self, response: HttpResponse | None, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when the server asks for too long."""
        retry_after = retry_after_seconds(
            response.headers.get("Retry-After") if response is not None else None
        )
        if retry_after is None:
            return self.policy.backoff(attempt, self.rng)
        if retry_after > self.policy.max_retry_after:
            return None
        return retry_after
