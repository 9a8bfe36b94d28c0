"""Every service version's real handler, driven by real API Gateway HTTP API 2.0 events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from mlserve_runtime import clock
from mlserve_runtime.artifacts import contract_hash
from mlserve_runtime.service import MAX_BODY_BYTES
from tests.support.events import SERVICES, header, http_api_event, load_handler, response_json

CUSTOMER = {
    "monthly_charges": 99.5,
    "support_calls": 4,
    "days_since_last_login": 30,
    "tenure_months": 2,
    "contract": "monthly",
}
BEFORE_SUNSET = 1_800_000_000.0  # 2027-01-15
AFTER_SUNSET = 1_830_000_000.0  # 2027-12-28


def check_churn_v1(body: dict[str, Any], module: ModuleType) -> None:
    """v1 answers a probability only."""
    assert set(body) == {"probability"}
    assert 0.0 <= body["probability"] <= 1.0


def check_churn_v2(body: dict[str, Any], module: ModuleType) -> None:
    """v2 answers probability, the label at the threshold, and the model that answered."""
    assert 0.0 <= body["probability"] <= 1.0
    assert body["label"] == ("churn" if body["probability"] >= 0.5 else "stay")
    assert body["model"]["version"] == "v2"
    assert body["model"]["digest"] == module.CARD.digest


def check_sentiment_v1(body: dict[str, Any], module: ModuleType) -> None:
    """v1 answers one score."""
    assert set(body) == {"score"}
    assert 0.0 <= body["score"] <= 1.0


def check_sentiment_v2(body: dict[str, Any], module: ModuleType) -> None:
    """v2 answers one labelled score per text, and the model that answered."""
    assert len(body["results"]) == 2
    for result in body["results"]:
        assert result["label"] == ("positive" if result["score"] >= 0.5 else "negative")
    assert body["model"]["digest"] == module.CARD.digest


@dataclass(frozen=True)
class Case:
    """One version: a valid body and one body per kind of contract violation, with its field."""

    service: str
    version: str
    valid: dict[str, Any]
    wrong_type: tuple[dict[str, Any], str]
    missing: tuple[dict[str, Any], str]
    extra: tuple[dict[str, Any], str]
    check: Callable[[dict[str, Any], ModuleType], None]

    @property
    def base(self) -> str:
        """The version's base path."""
        return f"/{self.service}/{self.version}"

    def env(self, **lifecycle: str) -> dict[str, str]:
        """The function environment the program sets, with extra lifecycle variables."""
        return {
            "MLSERVE_SERVICE": self.service,
            "MLSERVE_VERSION": self.version,
            "MLSERVE_ENVIRONMENT": "test",
            "MLSERVE_LIFECYCLE": "active",
            "POWERTOOLS_SERVICE_NAME": self.service,
            **lifecycle,
        }


CASES = [
    Case(
        "churn",
        "v1",
        {"features": [99.5, 4, 30, 1]},
        ({"features": [99.5, "4", 30, 1]}, "features.1"),
        ({}, "features"),
        ({"features": [99.5, 4, 30, 1], "customer_id": "c-1"}, "customer_id"),
        check_churn_v1,
    ),
    Case(
        "churn",
        "v2",
        {"features": CUSTOMER},
        ({"features": {**CUSTOMER, "support_calls": "4"}}, "features.support_calls"),
        (
            {"features": {k: v for k, v in CUSTOMER.items() if k != "tenure_months"}},
            "features.tenure_months",
        ),
        ({"features": {**CUSTOMER, "region": "eu"}}, "features.region"),
        check_churn_v2,
    ),
    Case(
        "sentiment",
        "v1",
        {"text": "The support team was really helpful!"},
        ({"text": 5}, "text"),
        ({}, "text"),
        ({"text": "Fine.", "language": "en"}, "language"),
        check_sentiment_v1,
    ),
    Case(
        "sentiment",
        "v2",
        {"texts": ["The support team was really helpful!", "Checkout isn't easy."]},
        ({"texts": ["Fine.", 3]}, "texts.1"),
        ({}, "texts"),
        ({"texts": ["Fine."], "language": "en"}, "language"),
        check_sentiment_v2,
    ),
]
IDS = [f"{case.service}-{case.version}" for case in CASES]


@pytest.fixture(autouse=True)
def real_clock() -> Iterator[None]:
    """Every test starts and ends on the system clock."""
    clock.set_clock(None)
    yield
    clock.set_clock(None)


def post(module: ModuleType, path: str, **kwargs: Any) -> dict[str, Any]:
    """POST through the version's real handler."""
    return module.handler(http_api_event("POST", path, **kwargs), None)


def get(module: ModuleType, path: str) -> dict[str, Any]:
    """GET through the version's real handler."""
    return module.handler(http_api_event("GET", path), None)


def rejected_fields(response: dict[str, Any]) -> set[str]:
    """The fields a 400 problem+json lists, after checking its shape."""
    assert response["statusCode"] == 400, response
    assert header(response, "Content-Type") == "application/problem+json"
    body = response_json(response)
    assert body["status"] == 400 and body["title"] and body["detail"] and body["type"]
    return {error["field"] for error in body["errors"]}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_valid_request_when_predicting_then_200_matching_the_response_contract(
    case: Case,
) -> None:
    # GIVEN an active version, WHEN it gets a valid request
    module = load_handler(case.service, case.version, case.env())
    response = post(module, f"{case.base}/predict", json_body=case.valid)
    # THEN it answers 200 JSON that its own response contract accepts, with sane values
    assert response["statusCode"] == 200, response
    assert header(response, "Content-Type") == "application/json"
    body = response_json(response)
    module.PredictResponse.model_validate(body)
    case.check(body, module)
    assert header(response, "Deprecation") is None


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("kind", ["wrong_type", "missing", "extra"])
def test_given_contract_violation_when_predicting_then_400_names_the_field(
    case: Case, kind: str
) -> None:
    # GIVEN a body with a wrong type, a missing field or an extra field
    body, field = getattr(case, kind)
    module = load_handler(case.service, case.version, case.env())
    # WHEN posted, THEN 400 problem+json lists exactly that field
    assert rejected_fields(post(module, f"{case.base}/predict", json_body=body)) == {field}


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize(
    "body", ['{"features": [1, 2,', "[]", '"hello"', "", "null"], ids=lambda b: repr(b)
)
def test_given_malformed_or_non_object_body_when_predicting_then_400_on_the_body(
    case: Case, body: str
) -> None:
    # GIVEN a body that is not JSON or not an object, WHEN posted
    module = load_handler(case.service, case.version, case.env())
    # THEN 400 names the body as a whole
    assert rejected_fields(post(module, f"{case.base}/predict", body=body)) == {"body"}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_oversized_body_when_predicting_then_400_before_parsing(case: Case) -> None:
    # GIVEN a valid body padded past the size limit with JSON whitespace
    body = json.dumps(case.valid) + " " * MAX_BODY_BYTES
    module = load_handler(case.service, case.version, case.env())
    # WHEN posted, THEN 400 names the body and the limit
    response = post(module, f"{case.base}/predict", body=body)
    assert rejected_fields(response) == {"body"}
    assert str(MAX_BODY_BYTES) in response["body"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_base64_encoded_body_when_predicting_then_same_answer_as_plain(case: Case) -> None:
    # GIVEN the same valid request, once plain and once base64-encoded by API Gateway
    module = load_handler(case.service, case.version, case.env())
    plain = post(module, f"{case.base}/predict", json_body=case.valid)
    encoded = post(module, f"{case.base}/predict", json_body=case.valid, base64_encoded=True)
    # THEN both get the same answer
    assert encoded["statusCode"] == 200
    assert response_json(encoded) == response_json(plain)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_health_route_when_called_then_ok(case: Case) -> None:
    module = load_handler(case.service, case.version, case.env())
    # WHEN health is asked, THEN the version says it is up and which lifecycle it has
    response = get(module, f"{case.base}/health")
    assert response["statusCode"] == 200
    assert response_json(response) == {
        "status": "ok",
        "service": case.service,
        "version": case.version,
        "lifecycle": "active",
    }


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_metadata_route_when_called_then_it_identifies_weights_and_contract(
    case: Case,
) -> None:
    # GIVEN the version's shipped weights file
    weights_file = SERVICES / case.service / case.version / "weights.json"
    weights = json.loads(weights_file.read_bytes())
    module = load_handler(case.service, case.version, case.env())
    # WHEN metadata is asked
    body = response_json(get(module, f"{case.base}/metadata"))
    # THEN it names the model, digests the exact weights, and hashes the contract
    assert body["service"] == case.service and body["version"] == case.version
    assert body["major_version"] == int(case.version[1:])
    assert body["model_name"] == weights["model"]
    assert body["model_digest"] == "sha256:" + hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert body["trained_on"] == weights["trained_on"]
    assert body["contract_hash"] == contract_hash(module.contract)
    assert f"POST {case.base}/predict" in body["routes"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_deprecated_configuration_when_called_then_every_route_has_the_headers(
    case: Case,
) -> None:
    # GIVEN the version deployed as deprecated, before its sunset
    successor = f"/{case.service}/v{int(case.version[1:]) + 1}"
    env = case.env(
        MLSERVE_LIFECYCLE="deprecated",
        MLSERVE_DEPRECATED_ON="2026-09-01",
        MLSERVE_SUNSET_ON="2027-06-30",
        MLSERVE_SUCCESSOR_PATH=successor,
        MLSERVE_DOCS_URL=f"https://models.example.com/docs{case.base}",
    )
    module = load_handler(case.service, case.version, env)
    clock.set_clock(lambda: BEFORE_SUNSET)
    # WHEN predict, health and metadata are called
    for response in (
        post(module, f"{case.base}/predict", json_body=case.valid),
        get(module, f"{case.base}/health"),
        get(module, f"{case.base}/metadata"),
    ):
        # THEN each answers normally with Deprecation, Sunset and Link
        assert response["statusCode"] == 200
        assert header(response, "Deprecation") == "@1788220800"
        assert header(response, "Sunset") == "Wed, 30 Jun 2027 23:59:59 GMT"
        link = header(response, "Link") or ""
        assert f'<https://models.example.com/docs{case.base}>; rel="deprecation"' in link
        assert 'rel="sunset"' in link
        assert f'<{successor}>; rel="successor-version"' in link


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_sunset_passed_when_predicting_then_410_names_the_successor(case: Case) -> None:
    # GIVEN a deprecated version whose sunset has passed but which is still deployed
    successor = f"/{case.service}/v{int(case.version[1:]) + 1}"
    env = case.env(
        MLSERVE_LIFECYCLE="deprecated",
        MLSERVE_DEPRECATED_ON="2026-09-01",
        MLSERVE_SUNSET_ON="2027-06-30",
        MLSERVE_SUCCESSOR_PATH=successor,
    )
    module = load_handler(case.service, case.version, env)
    clock.set_clock(lambda: AFTER_SUNSET)
    # WHEN a valid request arrives
    response = post(module, f"{case.base}/predict", json_body=case.valid)
    # THEN 410 problem+json sends the caller to the successor
    assert response["statusCode"] == 410
    assert header(response, "Content-Type") == "application/problem+json"
    body = response_json(response)
    assert body["status"] == 410 and body["successor"] == successor
    assert successor in body["detail"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_requests_when_served_then_one_json_log_line_each(
    case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a freshly started version
    module = load_handler(case.service, case.version, case.env())
    # WHEN it serves an accepted and a rejected request
    post(module, f"{case.base}/predict", json_body=case.valid, request_id="ok-1")
    post(module, f"{case.base}/predict", json_body=case.extra[0], request_id="bad-1")
    # THEN stdout holds one structured line per request
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    requests = [line for line in lines if line["message"] == "request"]
    assert [(r["request_id"], r["status"], r["outcome"]) for r in requests] == [
        ("ok-1", 200, "ok"),
        ("bad-1", 400, "invalid_request"),
    ]
    for line in requests:
        assert line["service"] == case.service and line["version"] == case.version
        assert line["route"] == f"POST {case.base}/predict"
        assert line["latency_ms"] >= 0


@pytest.mark.parametrize(
    ("service", "v1_body", "v2_missing"),
    [
        ("churn", {"features": [99.5, 4, 30, 1]}, "features"),
        ("sentiment", {"text": "Great app"}, "texts"),
    ],
)
def test_given_a_v1_request_when_sent_to_v2_then_it_is_rejected_as_a_breaking_change(
    service: str, v1_body: dict[str, Any], v2_missing: str
) -> None:
    # GIVEN a request that v1 serves
    v1 = load_handler(service, "v1", {"MLSERVE_SERVICE": service, "MLSERVE_VERSION": "v1"})
    assert post(v1, f"/{service}/v1/predict", json_body=v1_body)["statusCode"] == 200
    # WHEN the same request goes to v2, THEN v2 rejects it: the reason v2 is a new major
    v2 = load_handler(service, "v2", {"MLSERVE_SERVICE": service, "MLSERVE_VERSION": "v2"})
    fields = rejected_fields(post(v2, f"/{service}/v2/predict", json_body=v1_body))
    assert v2_missing in {field.split(".")[0] for field in fields}


def test_given_a_batch_when_scored_by_sentiment_v2_then_each_text_scores_as_if_alone() -> None:
    # GIVEN sentiment v2 and three texts
    texts = ["Delivery was not fast.", "I love the app", "The refund was awful"]
    module = load_handler("sentiment", "v2")
    # WHEN scored as a batch and one by one
    batch = response_json(post(module, "/sentiment/v2/predict", json_body={"texts": texts}))
    alone = [
        response_json(post(module, "/sentiment/v2/predict", json_body={"texts": [text]}))
        for text in texts
    ]
    # THEN the batch keeps request order and each result equals the single answer
    assert batch["results"] == [single["results"][0] for single in alone]


def test_given_prod_stack_environment_when_churn_v1_answers_then_it_is_deprecated() -> None:
    # GIVEN the environment the program gives churn v1 in the prod stack
    from mlserve.stack_files import stack_settings

    settings = stack_settings("prod")
    env = settings.services["churn"].versions["v1"].variables
    module = load_handler("churn", "v1", env)
    clock.set_clock(lambda: BEFORE_SUNSET)
    # WHEN it answers a request
    response = post(module, "/churn/v1/predict", json_body={"features": [99.5, 4, 30, 1]})
    # THEN the lifecycle headers follow the stack file, docs link included
    assert response["statusCode"] == 200
    assert header(response, "Deprecation") == "@1788220800"
    assert header(response, "Sunset") == "Wed, 30 Jun 2027 23:59:59 GMT"
    assert "<https://models.example.com/docs/churn/v1>" in (header(response, "Link") or "")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_service_api_path_when_called_then_same_answers_as_the_public_path(
    case: Case,
) -> None:
    # GIVEN the version behind its service's own API (mlserve:api.layout perService) on its
    # execute-api URL, which sends the path below /<service>, and behind the custom domain,
    # which sends the public path with the mapping key
    module = load_handler(case.service, case.version, case.env())
    own = f"/{case.version}/predict"
    # WHEN it is called both ways THEN it answers the same
    public = post(module, f"{case.base}/predict", json_body=case.valid)
    behind = post(module, own, json_body=case.valid, route_key=f"POST {own}")
    assert (behind["statusCode"], public["statusCode"]) == (200, 200), behind
    assert response_json(behind) == response_json(public)
    # and a wrong method or an unknown route is told by its public path
    wrong = get(module, own)
    assert wrong["statusCode"] == 405, wrong
    assert f"{case.base}/predict answers POST" in response_json(wrong)["detail"]
    unknown = get(module, f"/{case.version}/nothing-here")
    assert unknown["statusCode"] == 404, unknown
    assert f"{case.base}/nothing-here" in response_json(unknown)["detail"]
    foreign = post(module, f"/other{case.base}/predict", json_body=case.valid)
    assert foreign["statusCode"] == 404, foreign
