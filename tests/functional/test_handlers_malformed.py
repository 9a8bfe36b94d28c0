"""Handlers fed malformed API Gateway events answer 4xx: never a crash, never a 500."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.events import http_api_event, load_handler

VERSIONS = [("churn", "v1"), ("churn", "v2"), ("sentiment", "v1"), ("sentiment", "v2")]
HANDLERS = {version: load_handler(*version).handler for version in VERSIONS}
EVENT_KEYS = ["body", "isBase64Encoded", "headers", "rawPath", "routeKey", "requestContext",
              "rawQueryString", "version"]  # fmt: skip
odd_values = st.one_of(
    st.none(), st.integers(), st.text(max_size=20), st.binary(max_size=20),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.text(max_size=3)),
)  # fmt: skip


def answer(handler: Any, event: dict[str, Any]) -> int:
    response = handler(event, None)
    assert isinstance(response, dict)
    return int(response["statusCode"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    version=st.sampled_from(VERSIONS),
    dropped=st.lists(st.sampled_from(EVENT_KEYS), max_size=3, unique=True),
    replaced=st.dictionaries(st.sampled_from(EVENT_KEYS), odd_values, max_size=2),
)
def test_given_event_with_missing_or_odd_fields_when_handled_then_4xx(
    version: tuple[str, str], dropped: list[str], replaced: dict[str, Any]
) -> None:
    service, key = version
    event = http_api_event("POST", f"/{service}/{key}/predict", body="{}")
    for name in dropped:
        event.pop(name, None)
    event.update(copy.deepcopy(replaced))
    status = answer(HANDLERS[version], event)
    assert 400 <= status < 500, (dropped, replaced, status)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "body",
    ["not json", "{", "[1, 2]", '"text"', "null", "\udcff", "{}" * 40_000, "\x00\x01"],
    ids=["text", "truncated", "array", "string", "null", "lone-surrogate", "huge", "binary"],
)
def test_given_unusable_body_when_predicting_then_400(version: tuple[str, str], body: str) -> None:
    service, key = version
    event = http_api_event("POST", f"/{service}/{key}/predict", body="x")
    event["body"] = body
    assert answer(HANDLERS[version], event) == 400


@pytest.mark.parametrize("version", VERSIONS)
def test_given_invalid_base64_body_when_predicting_then_400(version: tuple[str, str]) -> None:
    service, key = version
    event = http_api_event("POST", f"/{service}/{key}/predict", body="x")
    event.update(body="%%%not base64%%%", isBase64Encoded=True)
    assert answer(HANDLERS[version], event) == 400
