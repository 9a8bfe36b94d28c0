"""HTTP plumbing: pooled httpx transports (sync and async), one deadline per call, a body cap, and
retries that only ever repeat idempotent requests."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from mlserve_client._errors import TransportError

log = logging.getLogger("mlserve_client")

RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024  # far above any model answer; API Gateway caps at 10 MB


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
    """Sends one request within `timeout` seconds; raises TransportError without a response."""

    def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        """Send the request and return the response, whatever its status."""
        ...


class AsyncTransport(Protocol):
    """The async counterpart of Transport."""

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        """Send the request and return the response, whatever its status."""
        ...


class Auth(Protocol):
    """Adds credentials to a request; called again for every attempt so signatures stay fresh."""

    def sign(self, request: HttpRequest) -> HttpRequest:
        """A copy of the request with its authentication headers added (the input is unchanged)."""
        ...


class HttpxTransport:
    """The default transport: one pooled httpx client, so calls reuse kept-alive connections.

    `timeout` bounds the attempt: connect, the request and every read of the answer; the body is
    read in chunks and the attempt stops once the deadline passes or the body exceeds the cap.
    (One blocked read can outlast the deadline by at most the time that was left when the attempt
    began; the async transport cancels at the deadline exactly.)"""

    def __init__(
        self, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, client: httpx.Client | None = None
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self._client = client or httpx.Client(follow_redirects=False, trust_env=True)

    def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        """Send the request; HTTP error statuses are returned, not raised."""
        deadline = time.monotonic() + timeout
        try:
            with self._client.stream(
                request.method, request.url, headers=request.headers, content=request.body,
                timeout=httpx.Timeout(timeout),
            ) as answer:  # fmt: skip
                body = _BodyReader(request, answer, self.max_body_bytes, deadline)
                for chunk in answer.iter_bytes():
                    body.add(chunk)
                return body.response()
        except httpx.HTTPError as error:
            raise _transport_error(request, error) from error

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()


class AsyncHttpxTransport:
    """The async default transport: one pooled httpx.AsyncClient; the deadline cancels the attempt
    exactly, wherever it is."""

    def __init__(
        self,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self._client = client or httpx.AsyncClient(follow_redirects=False, trust_env=True)

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        """Send the request; HTTP error statuses are returned, not raised."""
        try:
            return await asyncio.wait_for(self._send(request, timeout), timeout)
        except asyncio.TimeoutError as error:
            raise TransportError(
                f"{request.method} {request.url}: no complete answer within {timeout:.3g}s"
            ) from error
        except httpx.HTTPError as error:
            raise _transport_error(request, error) from error

    async def _send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        deadline = time.monotonic() + timeout
        async with self._client.stream(
            request.method, request.url, headers=request.headers, content=request.body,
            timeout=httpx.Timeout(timeout),
        ) as answer:  # fmt: skip
            body = _BodyReader(request, answer, self.max_body_bytes, deadline)
            async for chunk in answer.aiter_bytes():
                body.add(chunk)
            return body.response()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()


class _BodyReader:
    """A response body collected under the cap and the deadline."""

    def __init__(
        self, request: HttpRequest, answer: httpx.Response, cap: int, deadline: float
    ) -> None:
        self.request, self.answer, self.cap, self.deadline = request, answer, cap, deadline
        self.chunks: list[bytes] = []
        self.size = 0
        declared = answer.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            self._too_large(int(declared))

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.cap:
            self._too_large(self.size)
        if time.monotonic() > self.deadline:
            raise TransportError(
                f"{self.request.method} {self.request.url}: the answer did not complete within "
                "the call's timeout"
            )
        self.chunks.append(chunk)

    def response(self) -> HttpResponse:
        return HttpResponse(
            self.answer.status_code, Headers(self.answer.headers.multi_items()),
            b"".join(self.chunks),
        )  # fmt: skip

    def _too_large(self, size: int) -> None:
        raise TransportError(
            f"{self.request.method} {self.request.url}: the answer's body ({size} bytes or more) "
            f"exceeds the client's cap of {self.cap} bytes"
        )


def _transport_error(request: HttpRequest, error: httpx.HTTPError) -> TransportError:
    kind = "timed out" if isinstance(error, httpx.TimeoutException) else "failed"
    return TransportError(f"{request.method} {request.url} {kind}: {error or type(error).__name__}")


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before repeating an idempotent request; POSTs never repeat."""

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
    if value is None or len(value) > 64:
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
class _Attempts:
    """The retry bookkeeping of one call, shared by the sync and async senders: every attempt,
    every backoff and every Retry-After wait come out of one deadline."""

    request: HttpRequest
    policy: RetryPolicy
    rng: random.Random
    clock: Callable[[], float]
    deadline: float
    attempt: int = 0

    def remaining(self) -> float:
        return self.deadline - self.clock()

    def next_delay(
        self, response: HttpResponse | None, failure: TransportError | None
    ) -> float | None:
        """Seconds to wait before another attempt, or None to stop with what this one gave."""
        status = response.status if response is not None else None
        if self.attempt >= self.policy.retries:
            return None
        if not self.policy.retryable(self.request.method, status):
            return None
        retry_after = retry_after_seconds(
            response.headers.get("Retry-After") if response is not None else None
        )
        if retry_after is not None and retry_after > self.policy.max_retry_after:
            return None
        delay = self.policy.backoff(self.attempt, self.rng) if retry_after is None else retry_after
        if delay >= self.remaining():
            return None  # the wait alone would spend the call's timeout
        log.debug(
            "retrying %s %s after %.2fs (attempt %d answered %s)", self.request.method,
            self.request.url, delay, self.attempt + 1, status or failure,
        )  # fmt: skip
        self.attempt += 1
        return delay

    def timed_out(self) -> TransportError:
        return TransportError(
            f"{self.request.method} {self.request.url}: the call's timeout passed before an answer"
        )


@dataclass
class Sender:
    """Sends requests through a transport with one deadline per call, auth and the retry policy."""

    transport: Transport
    timeout: float
    policy: RetryPolicy
    auth: Auth | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic

    def deadline(self) -> float:
        """When a call starting now must be over, on `clock`."""
        return self.clock() + self.timeout

    def send(self, request: HttpRequest) -> HttpResponse:
        """The final response after any retries; raises TransportError if none ever came."""
        attempts = _Attempts(request, self.policy, self.rng, self.clock, self.deadline())
        while True:
            wire = request if self.auth is None else self.auth.sign(request)
            response, failure = None, None
            try:
                response = self.transport.send(wire, timeout=attempts.remaining())
            except TransportError as error:
                failure = error
            delay = attempts.next_delay(response, failure)
            if delay is None:
                return _outcome(response, failure)
            self.sleep(delay)
            if attempts.remaining() <= 0:
                raise attempts.timed_out()


@dataclass
class AsyncSender:
    """The async counterpart of Sender, with the same deadline and retry rules."""

    transport: AsyncTransport
    timeout: float
    policy: RetryPolicy
    auth: Auth | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic

    def deadline(self) -> float:
        """When a call starting now must be over, on `clock`."""
        return self.clock() + self.timeout

    async def send(self, request: HttpRequest) -> HttpResponse:
        """The final response after any retries; raises TransportError if none ever came."""
        attempts = _Attempts(request, self.policy, self.rng, self.clock, self.deadline())
        while True:
            wire = request if self.auth is None else self.auth.sign(request)
            response, failure = None, None
            try:
                response = await self.transport.send(wire, timeout=attempts.remaining())
            except TransportError as error:
                failure = error
            delay = attempts.next_delay(response, failure)
            if delay is None:
                return _outcome(response, failure)
            await self.sleep(delay)
            if attempts.remaining() <= 0:
                raise attempts.timed_out()


def _outcome(response: HttpResponse | None, failure: TransportError | None) -> HttpResponse:
    if response is None:
        assert failure is not None
        raise failure
    return response
