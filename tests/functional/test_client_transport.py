"""The client's transport against real sockets: one kept-alive connection for many calls, a
User-Agent that names the application, a deadline a dripping server cannot stretch, and a body
cap an endless answer cannot get past; sync and async alike."""

from __future__ import annotations

import asyncio
import time

import pytest
from mlserve_client import AsyncClient, Client, TransportError, __version__

from tests.support.http_servers import serving

CALLS = 200


def test_given_many_calls_when_made_then_one_connection_carries_them_all() -> None:
    with serving("json") as (url, recorded), Client(url) as client:
        for _ in range(CALLS):
            assert client.churn.v2.health().status == "ok"
    assert recorded.requests == CALLS
    assert recorded.connections == 1


def test_given_many_async_calls_when_made_then_one_connection_carries_them_all() -> None:
    async def calls(url: str) -> None:
        async with AsyncClient(url) as client:
            for _ in range(CALLS):
                assert (await client.churn.v2.health()).status == "ok"

    with serving("json") as (url, recorded):
        asyncio.run(calls(url))
    assert recorded.requests == CALLS and recorded.connections == 1


def test_given_app_name_when_calling_then_user_agent_names_client_and_app() -> None:
    with serving("json") as (url, recorded):
        with Client(url, app="billing-batch") as client:
            client.churn.v2.health()
        with Client(url) as client:
            client.churn.v2.health()
    assert recorded.user_agents == [
        f"mlserve-client/{__version__} app/billing-batch",
        f"mlserve-client/{__version__}",
    ]


@pytest.mark.parametrize("app", ["", "two words", "x" * 65, "café"])
def test_given_unusable_app_name_when_client_built_then_refused(app: str) -> None:
    with pytest.raises(ValueError, match="app"):
        Client("http://127.0.0.1:1", app=app)


def test_given_dripping_server_when_called_with_timeout_then_the_deadline_ends_it() -> None:
    # GIVEN a server that would take 200 s to drip its 1,000-byte body
    with serving("drip") as (url, _), Client(url, timeout=1.0, retries=3) as client:
        started = time.monotonic()
        # WHEN a call with a 1 s timeout reads it THEN it stops at the deadline, long before
        with pytest.raises(TransportError, match="did not complete within the call's timeout"):
            client.churn.v2.health()
        assert time.monotonic() - started < 20


def test_given_dripping_server_when_awaited_with_timeout_then_cancelled_at_the_deadline() -> None:
    async def call(url: str) -> None:
        async with AsyncClient(url, timeout=1.0, retries=3) as client:
            await client.churn.v2.health()

    with serving("drip") as (url, _):
        started = time.monotonic()
        with pytest.raises(TransportError, match="within"):
            asyncio.run(call(url))
        assert time.monotonic() - started < 20


@pytest.mark.parametrize("behaviour", ["huge", "endless"])
def test_given_oversized_answer_when_read_then_the_cap_stops_it(behaviour: str) -> None:
    # GIVEN an answer declared as 64 MiB, or chunked without end
    # WHEN read with a 1 MiB cap THEN it fails naming the cap, without holding the body
    with (
        serving(behaviour) as (url, _),
        Client(url, max_body_bytes=1 << 20) as client,
        pytest.raises(TransportError, match="exceeds the client's cap of 1048576 bytes"),
    ):
        client.churn.v2.health()


def test_given_oversized_answer_when_awaited_then_the_cap_stops_it() -> None:
    async def call(url: str) -> None:
        async with AsyncClient(url, max_body_bytes=1 << 20) as client:
            await client.churn.v2.health()

    with serving("endless") as (url, _), pytest.raises(TransportError, match="cap"):
        asyncio.run(call(url))
