"""Handlers fed malformed API Gateway events answer 4xx: never a crash, never a 500."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlserve_runtime.problem import MAX_PROBLEM_BYTES
from mlserve_runtime.service import MAX_BODY_BYTES
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
    status = int(response["statusCode"])
    if status >= 400:
        assert len(str(response.get("body", "")).encode()) <= MAX_PROBLEM_BYTES, status
    return status


def nested_paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of an event, e.g. ("requestContext", "http", "method")."""
    if not isinstance(value, dict):
        return []
    found = []
    for key, inner in value.items():
        found.append((*prefix, key))
        found.extend(nested_paths(inner, (*prefix, key)))
    return found


TEMPLATE = http_api_event("POST", "/churn/v1/predict", body="{}")
PATHS = nested_paths(TEMPLATE)


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


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    version=st.sampled_from(VERSIONS),
    changes=st.lists(
        st.tuples(st.sampled_from(PATHS), st.one_of(st.just("<drop>"), odd_values)),
        min_size=1, max_size=3,
    ),
)  # fmt: skip
def test_given_event_with_nested_field_missing_or_mistyped_when_handled_then_bounded_4xx(
    version: tuple[str, str], changes: list[tuple[tuple[str, ...], Any]]
) -> None:
    # GIVEN a real payload 2.0 event with fields anywhere in it (requestContext.stage,
    # requestContext.http.method, a header...) dropped or given another type
    service, key = version
    event = http_api_event("POST", f"/{service}/{key}/predict", body="{}")
    changed = False
    for path, value in changes:
        parent: Any = event
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict) or path[-1] not in parent:
            continue
        if value == "<drop>":
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(value)
        changed = True
    status = answer(HANDLERS[version], event)
    # THEN never a 500: a 4xx with a bounded problem body (or, for a field the handler does not
    # read, the normal answer to the empty body: a 400 too)
    assert not changed or 400 <= status < 500, (changes, status)


@pytest.mark.parametrize("version", VERSIONS)
def test_given_body_of_thousands_of_unknown_keys_when_predicting_then_problem_body_bounded(
    version: tuple[str, str],
) -> None:
    # GIVEN a body just within the size limit, of thousands of unknown keys (an error each)
    service, key = version
    keys = (MAX_BODY_BYTES - 2) // len('"k0000":0,')
    body = "{" + ",".join(f'"k{i:04}":0' for i in range(keys)) + "}"
    assert MAX_BODY_BYTES - 16 < len(body) <= MAX_BODY_BYTES
    response = HANDLERS[version](
        http_api_event("POST", f"/{service}/{key}/predict", body=body), None
    )
    # THEN a 400 no larger than the bound, saying how many errors it left out
    assert response["statusCode"] == 400
    assert len(response["body"].encode()) <= MAX_PROBLEM_BYTES
    assert json.loads(response["body"])["more"] > 0
