"""The client's HTTP policy: GETs retried on 429/5xx with backoff and Retry-After, POSTs never."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from mlserve_client import (
    ApiError,
    Client,
    HttpRequest,
    HttpResponse,
    RetryPolicy,
    TransportError,
)
from mlserve_client._http import Headers, Sender, retry_after_seconds
from mlserve_client.testing import FakeTransport, json_response

HEALTH = {"status": "ok", "service": "churn", "version": "v2", "lifecycle": "active"}
PREDICTION = {
    "probability": 0.25,
    "label": "stay",
    "model": {"name": "churn-logreg", "version": "v2", "digest": "sha256:00", "trained_on": "x"},
}
CUSTOMER = {
    "features": {
        "monthly_charges": 70.5,
        "support_calls": 1,
        "days_since_last_login": 3,
        "tenure_months": 24,
        "contract": "annual",
    }
}


def unavailable(retry_after: str | None = None, status: int = 503) -> HttpResponse:
    """A 5xx (or 429) problem response, optionally with Retry-After."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return json_response(status, {"title": "Service Unavailable", "status": status}, headers)


class Sleeps:
    """An injected sleep that records instead of waiting, and the clock it moves."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def client_with(
    script: list[HttpResponse | Exception], retries: int = 2, timeout: float = 3.5
) -> tuple[Client, FakeTransport, Sleeps]:
    """A client over a scripted transport with a recording sleep on a fake clock."""
    transport, sleeps = FakeTransport(script), Sleeps()
    client = Client(
        "https://api.example.com", transport=transport, sleep=sleeps, clock=sleeps.clock,
        retries=retries, rng=random.Random(7), timeout=timeout,
    )  # fmt: skip
    return client, transport, sleeps


def test_given_get_answered_503_then_200_when_called_then_retried_and_succeeds() -> None:
    # GIVEN a health endpoint that fails once with 503
    client, transport, sleeps = client_with([unavailable(), json_response(200, HEALTH)])
    # WHEN the client calls it
    health = client.churn.v2.health()
    # THEN it retried once after a jittered backoff within the first ceiling, and succeeded
    assert health.status == "ok"
    assert len(transport.requests) == 2
    assert all(request.method == "GET" for request in transport.requests)
    assert len(sleeps.delays) == 1 and 0 <= sleeps.delays[0] <= 0.5
    # AND the second attempt had what the call's timeout left after the wait
    assert transport.timeouts == pytest.approx([3.5, 3.5 - sleeps.delays[0]])


def test_given_post_answered_503_when_called_then_not_retried() -> None:
    # GIVEN predict fails with 503 (a retry would be safe only if the server were idempotent)
    client, transport, sleeps = client_with([unavailable(), json_response(200, PREDICTION)])
    # WHEN the client posts
    with pytest.raises(ApiError) as caught:
        client.churn.v2.predict(CUSTOMER)
    # THEN exactly one attempt was made, no sleep, and the 503 surfaced
    assert caught.value.status == 503
    assert len(transport.requests) == 1 and sleeps.delays == []


def test_given_post_connection_error_when_called_then_not_retried() -> None:
    # GIVEN the connection drops on a POST
    client, transport, sleeps = client_with([TransportError("reset by peer")])
    # WHEN / THEN the error surfaces after one attempt
    with pytest.raises(TransportError):
        client.churn.v2.predict(CUSTOMER)
    assert len(transport.requests) == 1 and sleeps.delays == []


def test_given_retry_after_seconds_when_429_then_waits_exactly_that() -> None:
    # GIVEN a 429 that asks for 7 seconds, within the call's timeout of 10
    client, transport, sleeps = client_with(
        [unavailable("7", status=429), json_response(200, HEALTH)], timeout=10
    )
    # WHEN the client calls
    client.churn.v2.health()
    # THEN it waited what the server asked, not its own backoff
    assert sleeps.delays == [7.0]
    assert len(transport.requests) == 2


def test_given_retry_after_http_date_when_parsed_then_seconds_until_then() -> None:
    # GIVEN Retry-After as an HTTP-date 90 seconds ahead
    now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    # WHEN / THEN it is 90 seconds; a past date is 0; garbage is ignored
    assert retry_after_seconds("Fri, 27 Nov 2026 12:01:30 GMT", now) == 90.0
    assert retry_after_seconds("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("whenever", now) is None


def test_given_retry_after_too_long_when_503_then_gives_up_without_waiting() -> None:
    # GIVEN a 503 asking for an hour, beyond the policy's 60-second limit
    client, transport, sleeps = client_with([unavailable("3600")])
    # WHEN / THEN the 503 surfaces at once
    with pytest.raises(ApiError) as caught:
        client.churn.v2.health()
    assert caught.value.status == 503 and sleeps.delays == [] and len(transport.requests) == 1


def test_given_persistent_503_when_get_then_retries_budget_then_raises() -> None:
    # GIVEN a GET that always fails
    client, transport, sleeps = client_with([unavailable()] * 4, retries=3)
    # WHEN called
    with pytest.raises(ApiError):
        client.churn.v2.health()
    # THEN 1 + 3 attempts with exponentially growing jitter ceilings
    assert len(transport.requests) == 4
    ceilings = (0.5, 1.0, 2.0)
    assert all(
        0 <= delay <= ceiling for delay, ceiling in zip(sleeps.delays, ceilings, strict=True)
    )


def test_given_get_transport_error_then_success_when_called_then_retried() -> None:
    # GIVEN one connection failure before a good answer
    client, transport, _ = client_with([TransportError("refused"), json_response(200, HEALTH)])
    # WHEN / THEN the GET recovers
    assert client.churn.v2.health().service == "churn"
    assert len(transport.requests) == 2


@pytest.mark.parametrize("status", [400, 404, 410, 501])
def test_given_4xx_when_get_then_not_retried_except_5xx(status: int) -> None:
    # GIVEN a GET answered with a client error (or a 5xx, which is retried)
    client, transport, _ = client_with([unavailable(status=status)] * 3)
    # WHEN called
    with pytest.raises(ApiError):
        client.churn.v2.health()
    # THEN only 5xx were repeated
    assert len(transport.requests) == (3 if status >= 500 else 1)


def test_given_policy_when_backoff_then_full_jitter_under_a_capped_ceiling() -> None:
    # GIVEN the default policy and a seeded random source
    policy, rng = RetryPolicy(), random.Random(1)
    # WHEN backoffs are drawn for many attempts
    delays = [policy.backoff(attempt, rng) for attempt in range(10) for _ in range(20)]
    # THEN none exceeds the cap and they are not all equal (jitter)
    assert max(delays) <= policy.backoff_max
    assert len(set(delays)) > 1


def test_given_auth_when_retried_then_each_attempt_signed_afresh() -> None:
    # GIVEN an auth that numbers its signatures
    class Counting:
        def __init__(self) -> None:
            self.count = 0

        def sign(self, request: HttpRequest) -> HttpRequest:
            self.count += 1
            headers = {**request.headers, "authorization": f"sig-{self.count}"}
            return HttpRequest(request.method, request.url, headers, request.body)

    transport = FakeTransport([unavailable(), HttpResponse(200, Headers(), b"{}")])
    auth = Counting()
    sender = Sender(transport, 1.0, RetryPolicy(), auth=auth, sleep=lambda _: None)
    # WHEN a GET is retried
    sender.send(HttpRequest("GET", "https://api.example.com/x"))
    # THEN each attempt carried its own signature
    assert [r.headers["authorization"] for r in transport.requests] == ["sig-1", "sig-2"]


def test_given_retry_after_beyond_the_call_timeout_when_429_then_surfaces_without_waiting() -> None:
    # GIVEN a 429 asking for 7 seconds while the call may take 3.5 in all
    client, transport, sleeps = client_with([unavailable("7", status=429)])
    # WHEN / THEN the 429 surfaces at once: waiting would spend the whole timeout
    with pytest.raises(ApiError) as caught:
        client.churn.v2.health()
    assert caught.value.status == 429 and sleeps.delays == [] and len(transport.requests) == 1


def test_given_retries_and_backoff_when_summed_then_never_beyond_the_call_timeout() -> None:
    # GIVEN a GET that always fails, many retries allowed, and a short call timeout
    client, transport, sleeps = client_with([unavailable()] * 50, retries=40, timeout=2.0)
    # WHEN called
    with pytest.raises(ApiError):
        client.churn.v2.health()
    # THEN the waits stayed within the timeout and each attempt got only what was left
    assert sum(sleeps.delays) < 2.0
    assert all(0 < timeout <= 2.0 for timeout in transport.timeouts)
    assert transport.timeouts == sorted(transport.timeouts, reverse=True)
