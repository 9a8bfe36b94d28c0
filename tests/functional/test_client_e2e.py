"""The client against the real handlers over HTTP: the dev stack served by the local API."""

from __future__ import annotations

import asyncio
import http.client
import json
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import mlserve_client
import pytest
from mlserve_client import (
    AsyncClient,
    Client,
    InvalidRequestError,
    MlserveDeprecationWarning,
    TransportError,
    VersionGoneError,
)
from mlserve_client.churn import v1 as churn_v1
from mlserve_client.churn import v2 as churn_v2
from mlserve_client.sentiment import v1 as sentiment_v1
from mlserve_client.sentiment import v2 as sentiment_v2

from components.settings import decode_engine_config, parse_settings
from mlserve.local_api import LocalApi
from mlserve.offline import PROJECT_ROOT
from mlserve.ops import usage
from mlserve.stack_files import stack_config, stack_settings
from tests.support.stacks import edited

TODAY = date(2026, 11, 27)  # churn v1 deprecated (since 2026-09-01), before its 2027-06-30 sunset
AFTER_SUNSET = date(2027, 7, 1)
SUNSET = datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
CUSTOMER_V1 = {"features": [89.5, 4.0, 30.0, 1.0]}
CUSTOMER_V2 = {
    "features": {
        "monthly_charges": 89.5,
        "support_calls": 4,
        "days_since_last_login": 30,
        "tenure_months": 3,
        "contract": "monthly",
    }
}
POSITIVE = "great service, thank you so much, really helpful"
NEGATIVE = "terrible, awful and useless support, very disappointed"


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApi]:
    """The dev stack on a free port, its handlers' clock pinned to TODAY."""
    local = LocalApi(stack_settings("dev", today=TODAY))
    local.set_today(TODAY)
    local.start()
    yield local
    local.stop()


@pytest.fixture
def client(api: LocalApi) -> Client:
    """A fresh client (so fresh warn-once state) for the served stack."""
    return Client(api.url, timeout=30)


@pytest.fixture
def caught() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning, including repeats Python's own registry would hide."""
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always")
        yield recorded


def deprecations(recorded: list[warnings.WarningMessage]) -> list[MlserveDeprecationWarning]:
    """The client's deprecation warnings among the recorded ones."""
    return [w.message for w in recorded if isinstance(w.message, MlserveDeprecationWarning)]


def test_given_dev_stack_when_each_version_predicts_then_typed_answers_in_range(
    client: Client, caught: list[warnings.WarningMessage]
) -> None:
    # GIVEN the dev stack's four versions
    # WHEN each predicts through the client
    churn_old = client.churn.v1.predict(CUSTOMER_V1)
    churn_new = client.churn.v2.predict(CUSTOMER_V2)
    sentiment_old = client.sentiment.v1.predict({"text": POSITIVE})
    sentiment_new = client.sentiment.v2.predict({"texts": [POSITIVE, NEGATIVE, "ok"]})
    # THEN each answer is its version's typed model with values in range
    assert isinstance(churn_old, churn_v1.PredictResponse)
    assert 0 <= churn_old.probability <= 1
    assert isinstance(churn_new, churn_v2.PredictResponse)
    assert 0 <= churn_new.probability <= 1
    assert churn_new.label == ("churn" if churn_new.probability >= 0.5 else "stay")
    assert churn_new.model.version == "v2" and churn_new.model.digest.startswith("sha256:")
    assert isinstance(sentiment_old, sentiment_v1.PredictResponse)
    assert 0 <= sentiment_old.score <= 1
    assert isinstance(sentiment_new, sentiment_v2.PredictResponse)
    assert len(sentiment_new.results) == 3
    for result in sentiment_new.results:
        assert 0 <= result.score <= 1
        assert result.label == ("positive" if result.score >= 0.5 else "negative")
    positive, negative, _ = sentiment_new.results
    assert positive.score > negative.score
    assert sentiment_new.model.version == "v2"


def test_given_dev_stack_when_health_and_metadata_read_then_match_the_stack(
    client: Client, api: LocalApi, caught: list[warnings.WarningMessage]
) -> None:
    # GIVEN every deployed version of the stack
    for version in api.settings.deployed_versions():
        version_client = client.service(version.service).version(version.major)
        # WHEN its health and metadata are read
        health = version_client.health()
        metadata = version_client.metadata()
        # THEN they describe that version as the stack configures it
        assert (health.status, health.service, health.version) == ("ok", version.service,
                                                                   version.key)  # fmt: skip
        assert health.lifecycle == version.status
        assert (metadata.service, metadata.version, metadata.major_version) == (
            version.service, version.key, version.major,
        )  # fmt: skip
        assert metadata.lifecycle.status == version.status
        assert metadata.lifecycle.sunset_on == version.sunset_on
        assert metadata.lifecycle.deprecated_on == version.deprecated_on
        assert f"POST {version.base_path}/predict" in metadata.routes
        assert metadata.model_digest.startswith("sha256:")


def test_given_deprecated_churn_v1_when_called_repeatedly_then_warned_exactly_once(
    client: Client, caught: list[warnings.WarningMessage]
) -> None:
    # GIVEN churn v1, deprecated on the server
    # WHEN it is called several times, through several routes
    for _ in range(3):
        client.churn.v1.predict(CUSTOMER_V1)
    client.churn.v1.health()
    client.churn.v2.predict(CUSTOMER_V2)
    # THEN exactly one deprecation warning, with the sunset date and the successor
    found = deprecations(caught)
    assert len(found) == 1
    assert (found[0].service, found[0].version) == ("churn", "v1")
    assert "2027-06-30" in str(found[0]) and "/churn/v2" in str(found[0])
    assert found[0].sunset_at == SUNSET and found[0].successor == "/churn/v2"
    # AND the server's own announcement was parsed from the response headers
    deprecation = client.churn.v1.deprecation
    assert deprecation is not None and deprecation.source == "server"
    assert deprecation.deprecated_at == datetime(2026, 9, 1, tzinfo=UTC)
    assert deprecation.sunset_at == SUNSET
    assert deprecation.successor == "/churn/v2"
    assert client.churn.v2.deprecation is None


def test_given_today_after_sunset_when_churn_v1_called_then_gone_naming_successor(
    client: Client, api: LocalApi, caught: list[warnings.WarningMessage]
) -> None:
    # GIVEN the handlers' clock moved past churn v1's sunset
    api.set_today(AFTER_SUNSET)
    try:
        # WHEN churn v1 is called
        with pytest.raises(VersionGoneError) as raised:
            client.churn.v1.predict(CUSTOMER_V1)
        with pytest.raises(VersionGoneError):
            client.churn.v1.health()
        # AND its successor is called
        successor = client.churn.v2.predict(CUSTOMER_V2)
    finally:
        api.set_today(TODAY)
    # THEN v1 is gone and says where to go; v2 still answers
    error = raised.value
    assert error.status == 410 and error.successor == "/churn/v2"
    assert error.sunset_at == SUNSET
    assert error.problem is not None and error.problem["status"] == 410
    assert 0 <= successor.probability <= 1


def forced(model: type[Any], **fields: Any) -> Any:
    """A request the client would refuse, built without validation to reach the server."""
    return model.model_construct(**fields)


def test_given_body_outside_contract_when_server_validates_then_400_field_list(
    client: Client, caught: list[warnings.WarningMessage]
) -> None:
    # GIVEN churn v2 features with a negative charge and an unknown contract type
    features = forced(
        churn_v2.CustomerFeatures, monthly_charges=-5.0, support_calls=1,
        days_since_last_login=3, tenure_months=24, contract="weekly",
    )  # fmt: skip
    # WHEN sent past the client's own validation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic notes the unvalidated value on serialising
        with pytest.raises(InvalidRequestError) as raised:
            client.churn.v2.predict(forced(churn_v2.PredictRequest, features=features))
    # THEN the server's problem details name both fields
    assert raised.value.status == 400
    assert sorted(raised.value.fields) == ["features.contract", "features.monthly_charges"]
    assert all(error.message for error in raised.value.errors)
    # AND a sentiment v1 empty text is reported by its field name
    with pytest.raises(InvalidRequestError) as empty:
        client.sentiment.v1.predict(forced(sentiment_v1.PredictRequest, text=""))
    assert empty.value.fields == ["text"]


def test_given_client_default_when_used_then_newest_active_major_answers(
    client: Client, caught: list[warnings.WarningMessage]
) -> None:
    # GIVEN no explicit version / WHEN the default churn version predicts
    answer = client.churn.default.predict(CUSTOMER_V2)  # type: ignore[attr-defined]
    # THEN v2 answered, with no deprecation warning
    assert isinstance(answer, churn_v2.PredictResponse)
    assert deprecations(caught) == []


def test_given_server_deprecates_version_client_thinks_active_then_warned_from_headers(
    caught: list[warnings.WarningMessage],
) -> None:
    # GIVEN a dev stack where sentiment v1 is already deprecated (the client's table says active)
    def deprecate_sentiment_v1(services: dict[str, Any]) -> None:
        services["sentiment"]["versions"]["v1"]["status"] = "deprecated"

    config = edited(stack_config("dev"), deprecate_sentiment_v1)
    settings = parse_settings(decode_engine_config(config), stack="dev",
                              project_root=PROJECT_ROOT, today=TODAY)  # fmt: skip
    with LocalApi(settings) as local:
        local.set_today(TODAY)
        client = Client(local.url, timeout=30)
        # WHEN it is called twice
        for _ in range(2):
            client.sentiment.v1.predict({"text": POSITIVE})
    # THEN the client warned once, from the headers: the server's sunset and successor
    found = deprecations(caught)
    assert len(found) == 1
    assert "2027-07-31" in str(found[0]) and "/sentiment/v2" in str(found[0])
    deprecation = client.sentiment.v1.deprecation
    assert deprecation is not None and deprecation.source == "server"
    assert deprecation.deprecated_at == datetime(2027, 1, 15, tzinfo=UTC)


def test_given_nothing_listening_when_get_then_retried_then_transport_error() -> None:
    # GIVEN a port nobody listens on (a started-then-stopped local API's)
    with LocalApi(stack_settings("dev", today=TODAY)) as local:
        url = local.url
    delays: list[float] = []
    client = Client(url, retries=2, sleep=delays.append, timeout=5)
    # WHEN a GET and a POST are attempted
    with pytest.raises(TransportError):
        client.churn.v2.health()
    with pytest.raises(TransportError):
        client.churn.v2.predict(CUSTOMER_V2)
    # THEN the GET was retried twice with backoff, the POST never
    assert len(delays) == 2


def test_given_raw_http_when_posting_bad_json_then_problem_json_from_runtime(
    api: LocalApi,
) -> None:
    # GIVEN a body that is not JSON at all, sent without the client
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    try:
        # WHEN posted
        connection.request("POST", "/churn/v2/predict", b"not json",
                           {"content-type": "application/json"})  # fmt: skip
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    # THEN the runtime's 400 problem details come back through the local API unchanged
    assert response.status == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["errors"]


def test_given_async_client_when_every_version_read_then_same_answers_as_sync(
    api: LocalApi, client: Client, caught: list[warnings.WarningMessage]
) -> None:
    # GIVEN every deployed version, read through the sync and the async client
    async def read_all() -> list[tuple[Any, Any]]:
        async with AsyncClient(api.url, timeout=30) as asynchronous:
            return [
                (
                    await asynchronous.service(v.service).version(v.major).health(),
                    await asynchronous.service(v.service).version(v.major).metadata(),
                )
                for v in api.settings.deployed_versions()
            ]

    awaited = asyncio.run(read_all())
    # THEN the async surface answers exactly what the sync one does
    for version, (health, metadata) in zip(api.settings.deployed_versions(), awaited, strict=True):
        sync_client = client.service(version.service).version(version.major)
        assert health == sync_client.health()
        assert metadata.model_dump(exclude={"model_digest"}) == sync_client.metadata().model_dump(
            exclude={"model_digest"}
        )
    # AND each deprecated version warned once, whichever client called it first
    deprecated = {(v.service, v.key) for v in api.settings.deployed_versions()
                  if v.status == "deprecated"}  # fmt: skip
    warned = [(w.service, w.version) for w in deprecations(caught)]
    assert sorted(warned) == sorted([*deprecated, *deprecated])  # one per client


def test_given_async_client_when_gone_or_invalid_then_same_errors(
    api: LocalApi, caught: list[warnings.WarningMessage]
) -> None:
    async def calls() -> tuple[BaseException, BaseException]:
        async with AsyncClient(api.url, timeout=30) as asynchronous:
            with pytest.raises(InvalidRequestError) as invalid:
                await asynchronous.sentiment.v1.predict(
                    forced(sentiment_v1.PredictRequest, text="")
                )
            api.set_today(AFTER_SUNSET)
            try:
                with pytest.raises(VersionGoneError) as gone:
                    await asynchronous.churn.v1.predict(CUSTOMER_V1)
            finally:
                api.set_today(TODAY)
            return invalid.value, gone.value

    invalid, gone = asyncio.run(calls())
    assert isinstance(invalid, InvalidRequestError) and invalid.fields == ["text"]
    assert isinstance(gone, VersionGoneError) and gone.successor == "/churn/v2"


def test_given_apps_calling_through_the_client_when_usage_reported_then_each_app_is_a_caller(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the dev stack served with an access log in the stage's format, and two apps
    log = tmp_path / "access.log"
    settings = stack_settings("dev", today=TODAY)
    deprecated = [v for v in settings.deployed_versions() if v.status == "deprecated"]
    assert deprecated, "the dev stack deprecates a version"
    with LocalApi(settings, access_log=log) as local:
        local.set_today(TODAY)
        with Client(local.url, timeout=30, app="billing") as billing, Client(
            local.url, timeout=30, app="crm"
        ) as crm, warnings.catch_warnings():  # fmt: skip
            warnings.simplefilter("ignore", MlserveDeprecationWarning)
            for _ in range(2):
                billing.churn.v1.predict(CUSTOMER_V1)
            crm.churn.v1.health()
            crm.churn.v2.predict(CUSTOMER_V2)
    # WHEN the usage report reads that log
    code = usage.main(["--stack", "dev", "--access-log", str(log), "--json"])
    report = json.loads(capsys.readouterr().out)
    # THEN each app is a caller of the versions it called, by its user agent
    assert code == 0
    agent = f"mlserve-client/{mlserve_client.__version__} app/"
    assert report["churn"]["v1"]["callers"] == {f"{agent}billing": 2, f"{agent}crm": 1}
    assert report["churn"]["v2"] == {"requests": 1, "callers": {f"{agent}crm": 1}}
