"""The app shell of a model version: validation, problems, routes, logs and metadata."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

from mlserve_runtime import clock
from mlserve_runtime.artifacts import ModelCard, contract_hash, load_weights
from mlserve_runtime.lifecycle import DeploymentError
from mlserve_runtime.problem import MAX_PROBLEM_BYTES
from mlserve_runtime.service import MAX_BODY_BYTES, serve
from tests.support.events import header, http_api_event, response_json

CARD = ModelCard(name="echo", trained_on="2026-11-27", digest="sha256:" + "0" * 64)
DEPRECATED = {
    "MLSERVE_SERVICE": "echo",
    "MLSERVE_VERSION": "v1",
    "MLSERVE_LIFECYCLE": "deprecated",
    "MLSERVE_DEPRECATED_ON": "2026-09-01",
    "MLSERVE_SUNSET_ON": "2027-06-30",
    "MLSERVE_SUCCESSOR_PATH": "/echo/v2",
}
AFTER_SUNSET = 1_830_000_000.0  # 2027-12-28


class EchoRequest(BaseModel):
    """A request contract for the shell's tests."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    text: str = Field(max_length=200_000)
    count: int = Field(default=1, ge=1)


class EchoResponse(BaseModel):
    """A response contract for the shell's tests."""

    model_config = ConfigDict(extra="allow")

    text: str
    count: int


def echo(request: EchoRequest) -> EchoResponse:
    """The test model: answers its input."""
    return EchoResponse(text=request.text, count=request.count)


def echo_contract(routes: tuple[str, ...] = ("POST /predict",)) -> SimpleNamespace:
    """A contract module declaring `routes`, each with the echo models."""
    models = {"request": "EchoRequest", "response": "EchoResponse"}
    surface = {"service": "echo", "version": "v1", "routes": dict.fromkeys(routes, models)}
    return SimpleNamespace(SURFACE=surface, EchoRequest=EchoRequest, EchoResponse=EchoResponse)


class App:
    """A handler built by serve, with the log lines it wrote."""

    def __init__(
        self,
        predict: Callable[[Any], Any] = echo,
        env: dict[str, str] | None = None,
        routes: tuple[str, ...] = ("POST /predict",),
    ) -> None:
        self.stream = io.StringIO()
        logger = Logger(service=f"unit-{uuid.uuid4().hex}", stream=self.stream)
        self.contract = echo_contract(routes)
        self.handler = serve(self.contract, dict.fromkeys(routes, predict), CARD, env or {}, logger)

    def post(self, path: str = "/echo/v1/predict", **kwargs: Any) -> dict[str, Any]:
        """POST through a real payload 2.0 event."""
        return self.handler(http_api_event("POST", path, **kwargs), None)

    def get(self, path: str) -> dict[str, Any]:
        """GET through a real payload 2.0 event."""
        return self.handler(http_api_event("GET", path), None)

    def logs(self) -> list[dict[str, Any]]:
        """Every JSON log line written so far."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


def errors(response: dict[str, Any]) -> dict[str, str]:
    """A 400 problem's errors as {field: message}, after checking the problem shape."""
    assert response["statusCode"] == 400, response
    assert header(response, "Content-Type") == "application/problem+json"
    body = response_json(response)
    assert body["status"] == 400 and body["type"] and body["title"] and body["detail"]
    assert body["errors"], body
    return {error["field"]: error["message"] for error in body["errors"]}


def padded(size: int) -> str:
    """A valid request body of exactly `size` bytes."""
    skeleton = '{"text":""}'
    return '{"text":"' + "a" * (size - len(skeleton)) + '"}'


@pytest.fixture(autouse=True)
def real_clock() -> Iterator[None]:
    """Every test starts and ends on the system clock."""
    clock.set_clock(None)
    yield
    clock.set_clock(None)


def test_given_valid_body_when_posted_then_200_json_of_the_response_model() -> None:
    # GIVEN a valid body, WHEN posted
    response = App().post(json_body={"text": "hi", "count": 2})
    # THEN the predict result comes back as JSON
    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "application/json"
    assert response_json(response) == {"text": "hi", "count": 2}


def test_given_body_of_exactly_the_limit_when_posted_then_it_is_accepted() -> None:
    # GIVEN bodies of exactly the limit and one byte over
    app = App()
    # WHEN posted, THEN the first is served and the second rejected on the body
    assert app.post(body=padded(MAX_BODY_BYTES))["statusCode"] == 200
    assert "limit" in errors(app.post(body=padded(MAX_BODY_BYTES + 1)))["body"]


def test_given_multibyte_body_under_the_limit_in_characters_when_posted_then_bytes_count() -> None:
    # GIVEN a body with fewer characters than the limit but more bytes (é is two bytes)
    body = '{"text":"' + "é" * (MAX_BODY_BYTES // 2 + 10) + '"}'
    assert len(body) < MAX_BODY_BYTES < len(body.encode())
    # WHEN posted, THEN it is rejected as too large
    assert "limit" in errors(App().post(body=body))["body"]


def test_given_base64_body_when_posted_then_it_is_decoded_first() -> None:
    # GIVEN a body API Gateway base64-encoded (no text content type)
    app = App()
    # WHEN posted, THEN it is served as if sent plain
    response = app.post(json_body={"text": "zürich"}, base64_encoded=True)
    assert response["statusCode"] == 200
    assert response_json(response) == {"text": "zürich", "count": 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not base64!", "base64"),
        (base64.b64encode(b"\xff\xfe{}").decode(), "JSON"),
        (base64.b64encode(padded(MAX_BODY_BYTES + 1).encode()).decode(), "limit"),
    ],
)
def test_given_bad_base64_body_when_posted_then_400_on_the_body(body: str, message: str) -> None:
    # GIVEN a base64 flagged body that is not base64, not UTF-8 JSON, or too large
    event = http_api_event("POST", "/echo/v1/predict", body="{}", base64_encoded=True)
    event["body"] = body
    # WHEN posted, THEN 400 names the body
    assert message in errors(App().handler(event, None))["body"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "body"),
        ("", "body"),
        ('{"text": "a",', "body"),
        ("[]", "body"),
        ('"text"', "body"),
        ("null", "body"),
        ('{"text": 5}', "text"),
        ('{"text": "a", "count": "2"}', "count"),
        ('{"text": "a", "count": 2.0}', "count"),
        ('{"text": "a", "count": true}', "count"),
        ("{}", "text"),
        ('{"text": "a", "colour": "red"}', "colour"),
        ('{"text": "a", "count": 0}', "count"),
    ],
)
def test_given_bad_body_when_posted_then_400_names_the_field(body: str | None, field: str) -> None:
    # GIVEN a body that breaks the contract, WHEN posted, THEN 400 names the offending field
    assert field in errors(App().post(body=body))


def test_given_several_bad_fields_when_posted_then_every_one_is_listed() -> None:
    # GIVEN a body with a wrong type, a missing field and an extra one
    found = errors(App().post(json_body={"count": "x", "extra": 1}))
    # THEN all three are listed
    assert set(found) == {"text", "count", "extra"}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.one_of(
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["text", "count", "x"]) | st.text(max_size=5), inner
                )
            ),
            max_leaves=10,
        ).map(json.dumps),
        st.text(max_size=50),
    )
)
def test_given_any_caller_body_when_posted_then_never_a_server_error(body: str) -> None:
    # GIVEN any body a caller could send, WHEN posted
    response = APP_FOR_FUZZING.post(body=body)
    # THEN it is served or rejected with listed fields, never a 5xx
    assert response["statusCode"] in (200, 400), response
    if response["statusCode"] == 400:
        assert all(e["field"] and e["message"] for e in response_json(response)["errors"])


APP_FOR_FUZZING = App()


def test_given_predict_raises_when_posted_then_500_problem_and_logged_stack_trace() -> None:
    # GIVEN a model that fails
    def broken(request: EchoRequest) -> EchoResponse:
        raise ZeroDivisionError("secret internal detail")

    app = App(predict=broken)
    # WHEN a valid body is posted
    response = app.post(json_body={"text": "a"})
    # THEN a 500 problem hides the detail, and the log holds the stack trace
    assert response["statusCode"] == 500
    assert header(response, "Content-Type") == "application/problem+json"
    assert response_json(response)["status"] == 500
    assert "secret" not in response["body"]
    logged = [line for line in app.logs() if line.get("exception")]
    assert len(logged) == 1
    assert "ZeroDivisionError: secret internal detail" in logged[0]["exception"]
    assert "Traceback" in logged[0]["exception"]


def test_given_predict_breaks_its_response_contract_when_posted_then_500() -> None:
    # GIVEN a model whose answer does not match the response contract
    app = App(predict=lambda request: {"text": 1})
    # WHEN posted, THEN it is the server's fault, not the caller's
    assert app.post(json_body={"text": "a"})["statusCode"] == 500


def test_given_event_without_request_context_when_invoked_then_400_problem() -> None:
    # GIVEN an event that is not an HTTP API 2.0 request (a direct invoke), WHEN invoked
    app = App()
    response = app.handler({"rawPath": "/echo/v1/predict"}, None)
    # THEN the caller gets a 400 problem naming what is missing, and one request log line
    assert response["statusCode"] == 400
    assert header(response, "Content-Type") == "application/problem+json"
    fields = [error["field"] for error in json.loads(response["body"])["errors"]]
    assert fields == ["requestContext"]
    assert [line["status"] for line in app.logs() if line["message"] == "request"] == [400]


def test_given_requests_when_served_then_one_structured_log_line_each() -> None:
    # GIVEN an app, WHEN it serves an accepted and a rejected request
    app = App()
    app.post(json_body={"text": "a"}, request_id="req-1")
    app.post(json_body={}, request_id="req-2")
    # THEN each wrote one JSON line with the request facts
    lines = [line for line in app.logs() if line["message"] == "request"]
    assert [(line["request_id"], line["status"], line["outcome"]) for line in lines] == [
        ("req-1", 200, "ok"),
        ("req-2", 400, "invalid_request"),
    ]
    for line in lines:
        assert line["version"] == "v1"
        assert line["route"] == "POST /echo/v1/predict"
        assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    assert [line["cold_start"] for line in lines] == [True, False]


def test_given_unknown_path_or_method_when_called_then_404_or_405_problem() -> None:
    app = App()
    # GIVEN a path the version lacks, WHEN called, THEN 404 problem
    missing = app.get("/echo/v1/nothing")
    assert missing["statusCode"] == 404
    assert header(missing, "Content-Type") == "application/problem+json"
    # GIVEN a known path with the wrong method, WHEN called, THEN 405 with Allow
    wrong = app.get("/echo/v1/predict")
    assert wrong["statusCode"] == 405
    assert header(wrong, "Allow") == "POST"


def test_given_declared_routes_when_called_then_the_app_answers_on_them_only() -> None:
    # GIVEN a version whose contract declares its own route
    app = App(routes=("POST /score",))
    # WHEN called, THEN it answers there and not on the default
    assert app.post("/echo/v1/score", json_body={"text": "a"})["statusCode"] == 200
    assert app.post("/echo/v1/predict", json_body={"text": "a"})["statusCode"] == 404


def test_given_malformed_declared_route_when_building_then_it_fails() -> None:
    with pytest.raises(DeploymentError, match="METHOD /path"):
        App(routes=("predict",))


def test_given_app_serving_other_routes_than_declared_when_building_then_it_fails() -> None:
    # GIVEN a contract declaring two routes, and an app that gives a function to one of them
    contract = echo_contract(("POST /predict", "POST /explain"))
    # THEN the cold start refuses, naming both sets, instead of answering 404 on one
    with pytest.raises(DeploymentError, match="declares"):
        serve(contract, {"POST /predict": echo}, CARD, {})


@pytest.mark.parametrize(
    "event",
    [
        {"rawPath": "/echo/v1/predict", "requestContext": {"http": {"method": "POST"}}},
        {"rawPath": "/echo/v1/predict", "requestContext": {"stage": 5, "http": {"method": "GET"}}},
        {"rawPath": "/echo/v1/predict", "requestContext": "x"},
        {"rawPath": "/echo/v1/health", "requestContext": {"stage": "$default", "http": []}},
        {"rawPath": "/echo/v1/health", "requestContext": {"stage": "$default",
                                                          "http": {"method": "GET", "path": 3}}},
        {"rawPath": "/echo/v1/health", "cookies": [1], "requestContext": {
            "stage": "$default", "http": {"method": "GET"}}},
        {"rawPath": "/echo/v1/health", "pathParameters": {"a": 1}, "requestContext": {
            "stage": "$default", "http": {"method": "GET"}}},
    ],
    ids=["no-stage", "stage-not-text", "context-not-object", "http-not-object", "path-not-text",
         "cookie-not-text", "path-parameter-not-text"],
)  # fmt: skip
def test_given_event_missing_or_mistyping_a_field_when_invoked_then_400_not_500(
    event: dict[str, Any],
) -> None:
    response = App().handler(event, None)
    assert response["statusCode"] == 400, response
    assert header(response, "Content-Type") == "application/problem+json"


def test_given_body_with_thousands_of_unknown_keys_when_posted_then_the_problem_is_bounded() -> (
    None
):
    # GIVEN a 64 KiB body made of unknown keys (each one an error of a closed request model)
    keys = {f"k{index}": 0 for index in range(6000)}
    body = json.dumps({"text": "a", **keys})[: MAX_BODY_BYTES - 2]
    body = body[: body.rfind(",")] + "}"
    response = App().post(body=body)
    # THEN the 400 lists the first errors and how many more, within the bound
    assert response["statusCode"] == 400
    assert len(response["body"].encode()) <= MAX_PROBLEM_BYTES
    problem = response_json(response)
    assert problem["errors"] and problem["more"] > 0
    assert len(problem["errors"]) + problem["more"] == body.count(":") - 1


def test_given_env_for_another_service_when_building_then_deployment_error() -> None:
    # GIVEN the environment of a different service, WHEN the handler is built
    with pytest.raises(DeploymentError, match="MLSERVE_SERVICE"):
        # THEN it fails at cold start naming the variable
        App(env={"MLSERVE_SERVICE": "churn", "MLSERVE_VERSION": "v1"})


def test_given_deprecated_env_when_rejecting_input_then_errors_carry_lifecycle_headers() -> None:
    # GIVEN a deprecated version before its sunset
    clock.set_clock(lambda: 1_800_000_000.0)
    app = App(env=DEPRECATED)
    # WHEN a caller sends a bad body or asks for health
    for response in (app.post(json_body={}), app.get("/echo/v1/health")):
        # THEN every answer carries the lifecycle headers
        assert header(response, "Deprecation") == "@1788220800"
        assert header(response, "Sunset") == "Wed, 30 Jun 2027 23:59:59 GMT"


def test_given_sunset_passed_when_any_route_called_then_410_and_logged_as_gone() -> None:
    # GIVEN a deprecated version after its sunset
    app = App(env=DEPRECATED)
    clock.set_clock(lambda: AFTER_SUNSET)
    # WHEN predict, health and metadata are called, THEN each is 410 and logged as gone
    for response in (
        app.post(json_body={"text": "a"}),
        app.get("/echo/v1/health"),
        app.get("/echo/v1/metadata"),
    ):
        assert response["statusCode"] == 410
        assert response_json(response)["successor"] == "/echo/v2"
    assert [line["outcome"] for line in app.logs() if line["message"] == "request"] == ["gone"] * 3


def test_given_metadata_route_when_called_then_it_describes_model_contract_and_lifecycle() -> None:
    # GIVEN a deprecated version, WHEN its metadata is read
    clock.set_clock(lambda: 1_800_000_000.0)
    body = response_json(App(env=DEPRECATED).get("/echo/v1/metadata"))
    # THEN it names the model, the contract hash and the lifecycle
    assert body["major_version"] == 1
    assert body["model_name"] == "echo" and body["model_digest"] == CARD.digest
    assert body["contract_hash"] == contract_hash(echo_contract())
    assert body["lifecycle"] == {
        "status": "deprecated",
        "deprecated_on": "2026-09-01",
        "sunset_on": "2027-06-30",
        "successor": "/echo/v2",
    }
    assert "POST /echo/v1/predict" in body["routes"]


def test_given_a_contract_change_when_hashed_then_the_hash_changes() -> None:
    # GIVEN the contract and a copy with one more optional request field
    class WiderRequest(EchoRequest):
        note: str | None = None

    wider = echo_contract()
    wider.EchoRequest = WiderRequest
    # WHEN hashed, THEN the hash is stable for equal contracts and differs for the wider one
    assert contract_hash(echo_contract()) == contract_hash(echo_contract())
    assert contract_hash(wider) != contract_hash(echo_contract())
    assert contract_hash(echo_contract()).startswith("sha256:")


def test_given_weights_file_when_loaded_then_card_digest_is_sha256_of_its_bytes(
    tmp_path: Path,
) -> None:
    # GIVEN a weights file
    path = tmp_path / "weights.json"
    path.write_text('{"model": "m", "trained_on": "2026-11-27", "coef": [1.0]}\n')
    # WHEN loaded, THEN the card names it and carries the digest of the exact bytes
    weights, card = load_weights(path)
    assert weights["coef"] == [1.0]
    assert card == ModelCard(
        "m", "2026-11-27", "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    )
