"""Lifecycle headers and 410s, parsed back against the RFC grammars they claim to follow."""

from __future__ import annotations

import json
import re
from calendar import timegm
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlserve_runtime import clock
from mlserve_runtime.conventions import http_date
from mlserve_runtime.lifecycle import (
    DeploymentError,
    read_lifecycle,
    versioned,
)

DEPRECATED = {
    "MLSERVE_SERVICE": "churn",
    "MLSERVE_VERSION": "v1",
    "MLSERVE_LIFECYCLE": "deprecated",
    "MLSERVE_DEPRECATED_ON": "2026-09-01",
    "MLSERVE_SUNSET_ON": "2027-06-30",
    "MLSERVE_SUCCESSOR_PATH": "/churn/v2",
    "MLSERVE_DOCS_URL": "https://models.example.com/docs/churn/v1",
}
DEPRECATED_AT = 1788220800  # 2026-09-01T00:00:00Z, the example in the lifecycle notes
SUNSET_AT = timegm((2027, 6, 30, 23, 59, 59))
# RFC 9110 IMF-fixdate: day-name "," SP date1 SP time-of-day SP "GMT"
IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3]\d "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} [0-2]\d:[0-5]\d:[0-6]\d GMT$"
)
# RFC 9745 Deprecation: an sf-date, "@" followed by an sf-integer
SF_DATE = re.compile(r"^@(-?\d{1,15})$")
# RFC 8288 link-value: "<" URI-Reference ">" *( OWS ";" OWS link-param )
LINK_VALUE = re.compile(r'\s*<([^>]*)>((?:\s*;\s*[A-Za-z*-]+=(?:"[^"]*"|[^;,\s]+))*)\s*(?:,|$)')
LINK_PARAM = re.compile(r'\s*;\s*([A-Za-z*-]+)=(?:"([^"]*)"|([^;,\s]+))')


class RecordingHandler:
    """A handler that answers a fixed response and remembers each call."""

    def __init__(self, response: Any = None) -> None:
        self.calls = 0
        self.response = response or {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": '{"probability":0.5}',
        }

    def __call__(self, event: Any, context: Any) -> Any:
        self.calls += 1
        return self.response


def links(value: str) -> dict[str, tuple[str, dict[str, str]]]:
    """A Link header as {rel: (target, params)}; fails on anything RFC 8288 does not allow."""
    parsed: dict[str, tuple[str, dict[str, str]]] = {}
    position = 0
    while position < len(value):
        match = LINK_VALUE.match(value, position)
        assert match, f"not an RFC 8288 link-value at {value[position:]!r}"
        params = {m[1]: m[2] if m[2] is not None else m[3] for m in LINK_PARAM.finditer(match[2])}
        parsed[params["rel"]] = (match[1], params)
        position = match.end()
    return parsed


def header(response: dict[str, Any], name: str) -> str | None:
    """A header by case-insensitive name; fails if it is set twice."""
    found = [v for k, v in response.get("headers", {}).items() if k.lower() == name.lower()]
    assert len(found) <= 1, f"{name} appears {len(found)} times"
    return found[0] if found else None


@pytest.fixture(autouse=True)
def real_clock() -> Iterator[None]:
    """Every test starts and ends on the system clock."""
    clock.set_clock(None)
    yield
    clock.set_clock(None)


def at(epoch: float) -> None:
    """Move the runtime's clock to a fixed moment."""
    clock.set_clock(lambda: epoch)


def test_given_deprecated_version_when_answering_then_deprecation_is_an_rfc9745_date() -> None:
    # GIVEN a deprecated version, WHEN it answers before its sunset
    at(DEPRECATED_AT + 86_400)
    response = versioned(RecordingHandler(), DEPRECATED)({}, None)
    # THEN Deprecation is "@" + the epoch of 00:00:00Z on deprecatedOn
    match = SF_DATE.match(header(response, "Deprecation") or "")
    assert match, header(response, "Deprecation")
    assert int(match[1]) == DEPRECATED_AT
    assert datetime.fromtimestamp(int(match[1]), UTC) == datetime(2026, 9, 1, tzinfo=UTC)


def test_given_deprecated_version_when_answering_then_sunset_is_an_imf_fixdate() -> None:
    # GIVEN a deprecated version, WHEN it answers
    at(DEPRECATED_AT)
    response = versioned(RecordingHandler(), DEPRECATED)({}, None)
    # THEN Sunset is an IMF-fixdate of 23:59:59Z on sunsetOn, not earlier than Deprecation
    sunset = header(response, "Sunset") or ""
    assert IMF_FIXDATE.match(sunset), sunset
    assert sunset == "Wed, 30 Jun 2027 23:59:59 GMT"
    parsed = parsedate_to_datetime(sunset)
    assert parsed == datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert parsed.timestamp() >= DEPRECATED_AT


def test_given_docs_url_when_answering_then_link_has_the_three_relations() -> None:
    # GIVEN a deprecated version with a documentation URL, WHEN it answers
    at(DEPRECATED_AT)
    response = versioned(RecordingHandler(), DEPRECATED)({}, None)
    # THEN Link parses as RFC 8288 and names the docs, the sunset policy and the successor
    parsed = links(header(response, "Link") or "")
    assert set(parsed) == {"deprecation", "sunset", "successor-version"}
    assert parsed["deprecation"] == (
        "https://models.example.com/docs/churn/v1",
        {"rel": "deprecation", "type": "text/html"},
    )
    assert parsed["sunset"][0] == "https://models.example.com/docs/churn/v1"
    assert parsed["successor-version"][0] == "/churn/v2"


def test_given_no_docs_url_when_answering_then_sunset_link_points_at_the_metadata() -> None:
    # GIVEN a deprecated version without documentation
    env = {k: v for k, v in DEPRECATED.items() if k != "MLSERVE_DOCS_URL"}
    at(DEPRECATED_AT)
    # WHEN it answers
    parsed = links(header(versioned(RecordingHandler(), env)({}, None), "Link") or "")
    # THEN there is no deprecation link, and the sunset link names the version's own metadata
    assert set(parsed) == {"sunset", "successor-version"}
    assert parsed["sunset"][0] == "/churn/v1/metadata"
    assert parsed["successor-version"][0] == "/churn/v2"


def test_given_deprecation_day_in_the_future_when_answering_then_headers_announce_it() -> None:
    # GIVEN a version marked deprecated ahead of its deprecation day (RFC 9745 allows it)
    at(DEPRECATED_AT - 30 * 86_400)
    handler = RecordingHandler()
    # WHEN it answers
    response = versioned(handler, DEPRECATED)({}, None)
    # THEN the handler ran and the future date is announced
    assert handler.calls == 1 and response["statusCode"] == 200
    assert header(response, "Deprecation") == f"@{DEPRECATED_AT}"


def test_given_last_second_before_sunset_when_called_then_the_handler_still_answers() -> None:
    # GIVEN the clock at exactly 23:59:59Z on the sunset day
    at(SUNSET_AT)
    handler = RecordingHandler()
    # WHEN a request arrives, THEN it is still served
    assert versioned(handler, DEPRECATED)({}, None)["statusCode"] == 200
    assert handler.calls == 1


def test_given_sunset_has_passed_when_called_then_410_problem_without_calling_handler() -> None:
    # GIVEN a deprecated version and the clock just past its sunset moment
    handler = RecordingHandler()
    wrapped = versioned(handler, DEPRECATED)
    at(SUNSET_AT + 0.001)
    # WHEN a request arrives
    response = wrapped({}, None)
    # THEN it answers 410 problem+json naming the successor, and the handler never ran
    assert handler.calls == 0
    assert response["statusCode"] == 410
    assert header(response, "Content-Type") == "application/problem+json"
    body = json.loads(response["body"])
    assert body["status"] == 410
    assert body["type"].startswith("tag:mlserve,")
    assert body["title"]
    assert "/churn/v2" in body["detail"]
    assert body["successor"] == "/churn/v2"
    assert links(header(response, "Link") or "")["successor-version"][0] == "/churn/v2"


def test_given_a_410_mutated_by_a_caller_when_called_again_then_the_next_410_is_intact() -> None:
    # GIVEN a retired version whose first 410 response someone mutates
    wrapped = versioned(RecordingHandler(), DEPRECATED)
    at(SUNSET_AT + 86_400)
    first = wrapped({}, None)
    first["headers"]["Content-Type"] = "text/plain"
    # WHEN it answers again, THEN the second answer is unaffected
    assert header(wrapped({}, None), "Content-Type") == "application/problem+json"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"MLSERVE_SERVICE": "churn", "MLSERVE_VERSION": "v2", "MLSERVE_LIFECYCLE": "active"},
        # active with a planned deprecation (as sentiment v1 in prod): nothing to announce yet
        {
            "MLSERVE_LIFECYCLE": "active",
            "MLSERVE_DEPRECATED_ON": "2020-01-15",
            "MLSERVE_SUNSET_ON": "2020-07-31",
            "MLSERVE_SUCCESSOR_PATH": "/sentiment/v2",
        },
    ],
)
def test_given_active_version_when_answering_then_the_response_is_untouched(
    env: dict[str, str],
) -> None:
    # GIVEN an active version (even with dates in the past), WHEN it answers
    at(SUNSET_AT + 10 * 365 * 86_400)
    handler = RecordingHandler()
    response = versioned(handler, env)({}, None)
    # THEN the very response object the handler returned comes back, headers unchanged
    assert response is handler.response
    assert response["headers"] == {"Content-Type": "application/json"}
    assert handler.calls == 1


def test_given_handler_headers_in_any_case_when_merged_then_each_name_appears_once() -> None:
    # GIVEN a handler that already set link, deprecation and SUNSET in other cases
    handler = RecordingHandler(
        {
            "statusCode": 200,
            "headers": {
                "content-type": "application/json",
                "link": '</churn/v1/health>; rel="monitor"',
                "deprecation": "@0",
                "SUNSET": "Thu, 01 Jan 1970 00:00:00 GMT",
            },
            "body": "{}",
        }
    )
    at(DEPRECATED_AT)
    # WHEN the lifecycle headers are merged
    response = versioned(handler, DEPRECATED)({}, None)
    # THEN every name appears once; the deployed lifecycle wins; the handler's link is kept
    assert header(response, "Deprecation") == f"@{DEPRECATED_AT}"
    assert header(response, "Sunset") == "Wed, 30 Jun 2027 23:59:59 GMT"
    assert set(links(header(response, "Link") or "")) == {
        "monitor",
        "deprecation",
        "sunset",
        "successor-version",
    }
    assert header(response, "content-type") == "application/json"


def test_given_handler_returns_inferred_format_when_deprecated_then_response_is_explicit() -> None:
    # GIVEN a handler returning a bare JSON object (HTTP API infers a 200 from it)
    at(DEPRECATED_AT)
    response = versioned(RecordingHandler({"probability": 0.5}), DEPRECATED)({}, None)
    # THEN the response is made explicit so it can carry the headers
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"probability": 0.5}
    assert header(response, "Deprecation") == f"@{DEPRECATED_AT}"


def test_given_env_changes_after_wrapping_when_called_then_the_cold_start_facts_hold() -> None:
    # GIVEN a wrapper built from an environment that later changes
    env = dict(DEPRECATED)
    wrapped = versioned(RecordingHandler(), env)
    env["MLSERVE_SUNSET_ON"] = "2099-12-31"
    at(SUNSET_AT + 1)
    # WHEN called after the original sunset, THEN the facts read at wrap time apply
    assert wrapped({}, None)["statusCode"] == 410


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"MLSERVE_SUNSET_ON": "2027-6-30"}, "MLSERVE_SUNSET_ON"),
        ({"MLSERVE_SUNSET_ON": "2027-02-30"}, "MLSERVE_SUNSET_ON"),
        ({"MLSERVE_SUNSET_ON": "20270630"}, "MLSERVE_SUNSET_ON"),
        ({"MLSERVE_DEPRECATED_ON": "01/09/2026"}, "MLSERVE_DEPRECATED_ON"),
        ({"MLSERVE_SUNSET_ON": None}, "MLSERVE_SUNSET_ON"),
        ({"MLSERVE_DEPRECATED_ON": None}, "MLSERVE_DEPRECATED_ON"),
        ({"MLSERVE_SUCCESSOR_PATH": None}, "MLSERVE_SUCCESSOR_PATH"),
        ({"MLSERVE_SUCCESSOR_PATH": "churn/v2"}, "MLSERVE_SUCCESSOR_PATH"),
        ({"MLSERVE_SUNSET_ON": "2026-08-31"}, "MLSERVE_SUNSET_ON"),
        ({"MLSERVE_LIFECYCLE": "retired"}, "MLSERVE_LIFECYCLE"),
        ({"MLSERVE_LIFECYCLE": ""}, "MLSERVE_LIFECYCLE"),
        ({"MLSERVE_DOCS_URL": "http://insecure.example.com"}, "MLSERVE_DOCS_URL"),
        ({"MLSERVE_VERSION": "1"}, "MLSERVE_VERSION"),
        ({"MLSERVE_SERVICE": "Churn"}, "MLSERVE_SERVICE"),
    ],
)
def test_given_bad_lifecycle_env_when_wrapping_then_it_fails_naming_the_variable(
    change: dict[str, str | None], named: str
) -> None:
    # GIVEN a deployment whose lifecycle variables are wrong
    env = {k: v for k, v in {**DEPRECATED, **change}.items() if v is not None}
    handler = RecordingHandler()
    # WHEN the handler is wrapped (cold start), THEN it fails loudly naming the variable
    with pytest.raises(DeploymentError, match=named):
        versioned(handler, env)
    assert handler.calls == 0


def test_given_sunset_without_deprecation_on_active_when_read_then_it_fails() -> None:
    # GIVEN an active version with a sunset day but no deprecation day
    env = {"MLSERVE_LIFECYCLE": "active", "MLSERVE_SUNSET_ON": "2027-06-30"}
    # WHEN read, THEN the missing variable is named
    with pytest.raises(DeploymentError, match="MLSERVE_DEPRECATED_ON"):
        read_lifecycle(env)


@given(st.integers(min_value=0, max_value=2**34))
def test_given_any_moment_when_formatted_then_http_date_matches_the_stdlib(seconds: int) -> None:
    # GIVEN any epoch second, WHEN formatted, THEN it equals email.utils' RFC 5322/9110 form
    formatted = http_date(seconds)
    assert formatted == formatdate(seconds, usegmt=True)
    assert IMF_FIXDATE.match(formatted)
    assert parsedate_to_datetime(formatted).timestamp() == seconds


def test_given_clock_moved_when_restored_then_now_is_the_system_time() -> None:
    # GIVEN a moved clock
    at(42.0)
    assert clock.now() == 42.0
    # WHEN restored, THEN now() reads the system clock again (some moment after 2020)
    clock.set_clock(None)
    assert clock.now() > datetime(2020, 1, 1, tzinfo=UTC).timestamp()
