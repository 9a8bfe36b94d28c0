"""The client's reactions to the server: deprecation warnings once, 410, 400 and other errors."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from mlserve_client import (
    ApiError,
    Client,
    HttpResponse,
    InvalidRequestError,
    MlserveDeprecationWarning,
    UnexpectedResponseError,
    VersionGoneError,
)
from mlserve_client.churn.v2 import PredictRequest as ChurnV2Request
from mlserve_client.testing import FakeTransport, json_response
from pydantic import ValidationError

CHURN_V1_REQUEST = {"features": [70.0, 2.0, 10.0, 12.0]}
CHURN_V1_ANSWER = {"probability": 0.31}
SENTIMENT_V1_REQUEST = {"text": "thanks, that helped"}
SENTIMENT_V1_ANSWER = {"score": 0.9}
CHURN_V2_REQUEST = {
    "features": {
        "monthly_charges": 70.5,
        "support_calls": 1,
        "days_since_last_login": 3,
        "tenure_months": 24,
        "contract": "annual",
    }
}
CHURN_V2_ANSWER = {
    "probability": 0.2,
    "label": "stay",
    "model": {"name": "m", "version": "v2", "digest": "sha256:00", "trained_on": "2026-11-27"},
}
LIFECYCLE_HEADERS = {
    "Deprecation": "@1800000000",  # 2027-01-15T08:00:00Z
    "Sunset": "Sat, 31 Jul 2027 23:59:59 GMT",
    "Link": '<https://docs.example.com/sentiment/v1>; rel="deprecation"; type="text/html", '
    '</sentiment/v2>; rel="successor-version"',
}


def client_over(*script: HttpResponse) -> tuple[Client, FakeTransport]:
    """A client whose transport plays the given responses."""
    transport = FakeTransport(script)
    return Client("https://api.example.com/", transport=transport, sleep=lambda _: None), transport


@pytest.fixture
def caught() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning, including repeats Python's own registry would hide."""
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        yield recorded


def deprecations(recorded: list[warnings.WarningMessage]) -> list[MlserveDeprecationWarning]:
    """The client's deprecation warnings among the recorded ones."""
    return [w.message for w in recorded if isinstance(w.message, MlserveDeprecationWarning)]


def test_given_version_the_table_deprecates_when_called_often_then_one_warning(
    caught: list[warnings.WarningMessage],
) -> None:
    # GIVEN churn v1, deprecated in the client's table, and a server that sends no headers
    client, transport = client_over(*[json_response(200, CHURN_V1_ANSWER)] * 3)
    # WHEN it is called three times
    for _ in range(3):
        assert client.churn.v1.predict(CHURN_V1_REQUEST).probability == 0.31
    # THEN exactly one warning, a FutureWarning (shown by default), with sunset and successor
    found = deprecations(caught)
    assert len(found) == 1
    warning = found[0]
    assert isinstance(warning, FutureWarning)
    assert (warning.service, warning.version, warning.successor) == ("churn", "v1", "/churn/v2")
    assert warning.sunset_at == datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert "2027-06-30" in str(warning) and "/churn/v2" in str(warning)
    # AND it points at the caller's line, not at the client's internals
    assert caught[0].filename == __file__
    assert len(transport.requests) == 3


def test_given_server_deprecation_headers_when_called_often_then_one_warning_from_them(
    caught: list[warnings.WarningMessage],
) -> None:
    # GIVEN sentiment v1, active in the client's table, but deprecated by the server
    client, _ = client_over(*[json_response(200, SENTIMENT_V1_ANSWER, LIFECYCLE_HEADERS)] * 3)
    # WHEN it is called three times
    for _ in range(3):
        client.sentiment.v1.predict(SENTIMENT_V1_REQUEST)
    # THEN one warning built from the headers: the server's sunset, successor and docs
    found = deprecations(caught)
    assert len(found) == 1
    assert found[0].sunset_at == datetime(2027, 7, 31, 23, 59, 59, tzinfo=UTC)
    assert found[0].successor == "/sentiment/v2"
    message = str(found[0])
    assert "2027-07-31" in message and "https://docs.example.com/sentiment/v1" in message
    # AND the parsed announcement is exposed
    deprecation = client.sentiment.v1.deprecation
    assert deprecation is not None and deprecation.source == "server"
    assert deprecation.deprecated_at == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    assert deprecation.docs == "https://docs.example.com/sentiment/v1"


def test_given_two_deprecated_versions_when_called_then_one_warning_each(
    caught: list[warnings.WarningMessage],
) -> None:
    # GIVEN a table-deprecated and a server-deprecated version
    client, _ = client_over(
        json_response(200, CHURN_V1_ANSWER),
        json_response(200, SENTIMENT_V1_ANSWER, LIFECYCLE_HEADERS),
        json_response(200, CHURN_V1_ANSWER),
        json_response(200, SENTIMENT_V1_ANSWER, LIFECYCLE_HEADERS),
    )
    # WHEN both are called twice
    for _ in range(2):
        client.churn.v1.predict(CHURN_V1_REQUEST)
        client.sentiment.v1.predict(SENTIMENT_V1_REQUEST)
    # THEN one warning per (service, version)
    assert sorted((w.service, w.version) for w in deprecations(caught)) == [
        ("churn", "v1"),
        ("sentiment", "v1"),
    ]


def test_given_active_version_without_headers_when_called_then_no_warning(
    caught: list[warnings.WarningMessage],
) -> None:
    # GIVEN an active version whose responses announce nothing / WHEN called
    client, _ = client_over(json_response(200, SENTIMENT_V1_ANSWER))
    client.sentiment.v1.predict(SENTIMENT_V1_REQUEST)
    # THEN no warning, and no deprecation known
    assert deprecations(caught) == []
    assert client.sentiment.v1.deprecation is None


def test_given_malformed_lifecycle_headers_when_called_then_call_succeeds_silently(
    caught: list[warnings.WarningMessage],
) -> None:
    # GIVEN a response whose Deprecation, Sunset and Link are all garbage
    headers = {"Deprecation": "someday", "Sunset": "never", "Link": "<<>>;;"}
    client, _ = client_over(json_response(200, SENTIMENT_V1_ANSWER, headers))
    # WHEN called / THEN the result is returned and nothing is warned
    assert client.sentiment.v1.predict(SENTIMENT_V1_REQUEST).score == 0.9
    assert deprecations(caught) == []


def test_given_table_deprecated_version_before_any_call_then_deprecation_from_table() -> None:
    # GIVEN a fresh client / WHEN churn v1's deprecation is read before any response
    deprecation = Client("https://api.example.com").churn.v1.deprecation
    # THEN the table's dates are given, marked as the client's knowledge
    assert deprecation is not None and deprecation.source == "client"
    assert deprecation.sunset_at == datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert deprecation.deprecated_at == datetime(2026, 9, 1, tzinfo=UTC)
    assert deprecation.successor == "/churn/v2"


def test_given_410_problem_when_called_then_version_gone_names_successor(
    caught: list[warnings.WarningMessage],
) -> None:
    # GIVEN the runtime's 410 after a sunset
    problem = {
        "type": "tag:mlserve,2026:problems/version-sunset",
        "title": "API version sunset",
        "status": 410,
        "detail": "churn v1 was sunset on 2027-06-30T23:59:59Z and no longer answers",
        "successor": "/churn/v2",
        "sunset": "2027-06-30T23:59:59Z",
    }
    client, _ = client_over(
        json_response(410, problem, {"Sunset": "Wed, 30 Jun 2027 23:59:59 GMT"},
                      content_type="application/problem+json")
    )  # fmt: skip
    # WHEN called
    with pytest.raises(VersionGoneError) as raised:
        client.churn.v1.predict(CHURN_V1_REQUEST)
    # THEN the error names the successor and the sunset, and keeps the problem
    error = raised.value
    assert error.status == 410 and error.successor == "/churn/v2"
    assert error.sunset_at == datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert "/churn/v2" in str(error)
    assert error.problem is not None and error.problem["title"] == "API version sunset"


def test_given_410_without_problem_body_when_called_then_successor_from_link(
    caught: list[warnings.WarningMessage],
) -> None:
    # GIVEN a bare 410 (e.g. from a proxy) that still carries the Link header
    gone = HttpResponse(410, json_response(410, {}, LIFECYCLE_HEADERS).headers, b"Gone")
    client, _ = client_over(gone)
    # WHEN / THEN the successor comes from the Link header
    with pytest.raises(VersionGoneError) as raised:
        client.sentiment.v1.predict(SENTIMENT_V1_REQUEST)
    assert raised.value.successor == "/sentiment/v2"


def test_given_bare_410_when_called_then_successor_from_client_table(
    caught: list[warnings.WarningMessage],
) -> None:
    # GIVEN a 410 with nothing in it / WHEN / THEN the table's successor is named
    client, _ = client_over(HttpResponse(410, json_response(410, {}).headers, b""))
    with pytest.raises(VersionGoneError) as raised:
        client.churn.v1.health()
    assert raised.value.successor == "/churn/v2"


def test_given_400_problem_when_called_then_error_lists_fields() -> None:
    # GIVEN the runtime's 400 problem details with its field list
    problem = {
        "type": "tag:mlserve,2026:problems/invalid-request",
        "title": "Invalid request",
        "status": 400,
        "detail": "The body does not match the churn v2 request contract; see errors.",
        "errors": [
            {"field": "features.tenure_months", "message": "Field required"},
            {"field": "features.contract", "message": "Input should be 'monthly'"},
        ],
    }
    client, _ = client_over(json_response(400, problem, content_type="application/problem+json"))
    # WHEN called
    with pytest.raises(InvalidRequestError) as raised:
        client.churn.v2.predict(CHURN_V2_REQUEST)
    # THEN every field and its message is there
    assert raised.value.fields == ["features.tenure_months", "features.contract"]
    assert raised.value.errors[0].message == "Field required"
    assert raised.value.status == 400


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 502])
def test_given_other_error_status_when_posted_then_api_error_with_status_and_body(
    status: int,
) -> None:
    # GIVEN any other error answer to a POST (never retried)
    client, transport = client_over(json_response(status, {"message": "nope"}))
    # WHEN called
    with pytest.raises(ApiError) as raised:
        client.churn.v2.predict(CHURN_V2_REQUEST)
    # THEN a general API error carries status and body, and is not a specific subclass
    error = raised.value
    assert type(error) is ApiError
    assert error.status == status and json.loads(error.body) == {"message": "nope"}
    assert "nope" in str(error)
    assert len(transport.requests) == 1


def test_given_request_outside_contract_when_predicting_then_rejected_before_sending() -> None:
    # GIVEN a body with an unknown field and one missing / WHEN predict is called
    client, transport = client_over()
    with pytest.raises(ValidationError):
        client.churn.v2.predict({"features": {"monthly_charges": 1.0}, "extra": True})
    # THEN nothing was sent
    assert transport.requests == []


def test_given_typed_request_when_predicting_then_posted_as_json_and_typed_answer() -> None:
    # GIVEN a typed v2 request
    client, transport = client_over(json_response(200, {**CHURN_V2_ANSWER, "added_later": 1}))
    # WHEN predicted
    answer = client.churn.v2.predict(ChurnV2Request.model_validate(CHURN_V2_REQUEST))
    # THEN the request went to the v2 route as JSON, and unknown response fields are ignored
    sent = transport.requests[0]
    assert (sent.method, sent.url) == ("POST", "https://api.example.com/churn/v2/predict")
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.body or b"") == CHURN_V2_REQUEST
    assert answer.label == "stay" and answer.model.version == "v2"


def test_given_200_with_wrong_shape_when_called_then_unexpected_response() -> None:
    # GIVEN a 200 whose body is not a v2 response
    client, _ = client_over(json_response(200, {"probability": "high"}))
    # WHEN / THEN the client says so instead of returning half a model
    with pytest.raises(UnexpectedResponseError):
        client.churn.v2.predict(CHURN_V2_REQUEST)
