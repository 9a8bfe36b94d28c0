"""A batch round trip through the client, for every queue major of every stack, on SQS (moto):
`submit_batch` validates and queues the requests, the version's handler consumes the work queue
as its mapping would, and `results` hands back typed responses (the HTTP route's answers) and
problems, warning once for a deprecated major; bad input never reaches the queue."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from mlserve_client import BatchSubmitError, Client, MlserveDeprecationWarning, MlserveError
from pydantic import ValidationError

from components.settings import VersionSettings
from mlserve_runtime.queue_events import queue_arn, sqs_record
from tests.conftest import TODAY
from tests.support.events import http_api_event, load_handler, response_json
from tests.support.queues import moto_sqs, queue_example, queue_ids, queue_versions

QUEUED = queue_versions(TODAY)
IDS = queue_ids(QUEUED)


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_sqs(monkeypatch) as client:
        yield client


def queues_of(sqs: Any, version: VersionSettings) -> dict[str, dict[str, str]]:
    """The stack's `queues` output for this version, its queues made in SQS."""
    urls = {kind: sqs.create_queue(QueueName=version.queue_name(kind))["QueueUrl"]
            for kind in ("work", "results", "deadLetter")}  # fmt: skip
    return {f"{version.service}/{version.key}": urls}


def consume(sqs: Any, version: VersionSettings, handler: Any, work: str) -> dict[str, Any]:
    """What the mapping does: receive a batch, invoke the alias, delete what it answered."""
    received = sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10).get("Messages", [])
    source = queue_arn(version.queue_name("work"))
    records = [sqs_record(m["Body"], source, message_id=m["MessageId"]) for m in received]
    answer = handler({"Records": records}, None)
    failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    done = [m for m in received if m["MessageId"] not in failed]
    if done:
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)]
        sqs.delete_message_batch(QueueUrl=work, Entries=entries)
    return dict(answer)


@pytest.mark.parametrize(("stack", "version"), QUEUED, ids=IDS)
def test_given_queue_major_when_a_batch_round_trips_then_typed_results_come_back(
    stack: str, version: VersionSettings, sqs: Any
) -> None:
    # GIVEN the client with the stack's queues, and the version's handler as its mapping runs it
    queues = queues_of(sqs, version)
    urls = queues[f"{version.service}/{version.key}"]
    env = {**version.variables, **version.queue_variables(urls["results"])}
    handler = load_handler(version.service, version.key, env).handler
    route = version.queue_route
    assert route is not None
    event = http_api_event(
        route.method, version.base_path + route.path, json_body=queue_example(version)
    )
    http = response_json(handler(event, None))
    client = Client("https://models.example.com", queues=queues, sqs=sqs)
    major: Any = client.service(version.service).version(version.key)  # a generated class
    # WHEN three requests are submitted and the mapping consumes them
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = major.submit_batch([queue_example(version)] * 3, ids=["a", "b", "c"])
        assert consume(sqs, version, handler, urls["work"]) == {"batchItemFailures": []}
        results = major.results(wait_seconds=0)
    # THEN each comes back as the typed answer the HTTP route gives, keyed by its id
    assert ids == ["a", "b", "c"]
    assert sorted(r.id for r in results if r.id) == ids
    assert all(r.ok and r.response is not None for r in results)
    assert all(r.response.model_dump(mode="json", exclude_unset=True) == http
               for r in results if r.response is not None)  # fmt: skip
    # AND a deprecated major announces itself on its results, warning once
    deprecations = [w for w in caught if issubclass(w.category, MlserveDeprecationWarning)]
    if version.status == "deprecated":
        assert len(deprecations) == 1
        assert all(r.deprecation is not None and r.deprecation.sunset_at for r in results)
        assert major.deprecation is not None and major.deprecation.source == "server"
    else:
        assert deprecations == [] and all(r.deprecation is None for r in results)
    assert major.results(wait_seconds=0) == []  # read results are deleted


@pytest.mark.parametrize(("stack", "version"), QUEUED[:1], ids=IDS[:1])
def test_given_bad_requests_when_submitted_then_nothing_is_queued(
    stack: str, version: VersionSettings, sqs: Any
) -> None:
    queues = queues_of(sqs, version)
    major: Any = Client("https://m.example.com", queues=queues, sqs=sqs).service(
        version.service).version(version.key)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValidationError):
            major.submit_batch([queue_example(version), {"not": "the contract"}])
        with pytest.raises(ValueError, match="unique"):
            major.submit_batch([queue_example(version)] * 2, ids=["same", "same"])
    work = queues[f"{version.service}/{version.key}"]["work"]
    depth = sqs.get_queue_attributes(QueueUrl=work, AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_given_no_queues_when_submitting_then_the_error_says_where_they_come_from() -> None:
    _, version = QUEUED[0]
    major: Any = Client("https://m.example.com").service(version.service).version(version.key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(MlserveError, match="`queues` output"):
            major.submit_batch([queue_example(version)])


class Refusing:
    """An SQS client whose SendMessageBatch refuses every second entry."""

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        return {"Failed": [{"Id": e["Id"], "Code": "InternalError", "SenderFault": False}
                           for e in Entries[1::2]]}  # fmt: skip


def test_given_sqs_refuses_some_when_submitting_then_the_unsent_ids_are_named() -> None:
    _, version = QUEUED[0]
    queues = {f"{version.service}/{version.key}": {"work": "https://sqs.example/1/w"}}
    major: Any = Client("https://m.example.com", queues=queues, sqs=Refusing()).service(
        version.service).version(version.key)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BatchSubmitError) as error:
            major.submit_batch([queue_example(version)] * 12, ids=[f"m{n}" for n in range(12)])
    assert error.value.ids == [f"m{n}" for n in (1, 3, 5, 7, 9, 11)]
    assert json.dumps(error.value.ids)


def test_given_foreign_message_on_the_results_queue_when_read_then_a_problem_not_a_jam(
    sqs: Any,
) -> None:
    _, version = QUEUED[0]
    queues = queues_of(sqs, version)
    results = queues[f"{version.service}/{version.key}"]["results"]
    sqs.send_message(QueueUrl=results, MessageBody="not a result")
    major: Any = Client("https://m.example.com", queues=queues, sqs=sqs).service(
        version.service).version(version.key)  # fmt: skip
    (read,) = major.results(wait_seconds=0)
    assert read.problem["title"] == "Unreadable result" and not read.ok
    assert major.results(wait_seconds=0) == []  # deleted: it cannot block later reads


class Unreachable:
    """An SQS client whose second SendMessageBatch raises."""

    def __init__(self) -> None:
        self.calls = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if self.calls == 2:
            raise ConnectionError("endpoint unreachable")
        return {"Failed": []}


def test_given_sqs_unreachable_part_way_when_submitting_then_the_unqueued_ids_are_named() -> None:
    _, version = QUEUED[0]
    queues = {f"{version.service}/{version.key}": {"work": "https://sqs.example/1/w"}}
    major: Any = Client("https://m.example.com", queues=queues, sqs=Unreachable()).service(
        version.service).version(version.key)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BatchSubmitError) as error:
            major.submit_batch([queue_example(version)] * 25, ids=[f"m{n}" for n in range(25)])
    assert error.value.ids == [f"m{n}" for n in range(10, 25)]  # the first ten were queued
    assert "endpoint unreachable" in str(error.value)
