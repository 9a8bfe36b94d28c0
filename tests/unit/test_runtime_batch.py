"""The runtime's queue side in process, for every queue version of every stack, its results in a
local queue file: a result per message (the HTTP answer, or a problem), retries only for what a
retry may fix, the lifecycle on every result, 410 problems after the sunset, replyTo, the send
batches SQS allows, and (hypothesis) no record body that gets an exception out of the handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.settings import VersionSettings
from mlserve_runtime import clock
from mlserve_runtime.batch import (
    FAILED,
    RESULT_LIMIT,
    SEND_BATCH_ENTRIES,
    RefusedError,
    SqsSender,
    _chunks,
)
from mlserve_runtime.conventions import ATTRIBUTE_DEPRECATION, ATTRIBUTE_SUNSET, sunset_moment
from mlserve_runtime.queue_events import queue_arn, sqs_event
from tests.conftest import TODAY
from tests.support.events import http_api_event, load_handler, response_json
from tests.support.queues import queue_example, queue_ids, queue_versions

QUEUED = [version for _, version in queue_versions(TODAY)]
IDS = queue_ids(queue_versions(TODAY))


class Loaded:
    """A queue version's handler, its results going to a file."""

    def __init__(self, version: VersionSettings, results: Path) -> None:
        self.version, self.results = version, results
        env = {**version.variables, **version.queue_variables(results.as_uri())}
        self.module = load_handler(version.service, version.key, env)

    def batch(
        self, bodies: list[str]
    ) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        """(the handler's answer, the event, the results it wrote), the file emptied first."""
        self.results.unlink(missing_ok=True)
        event = sqs_event(bodies, queue_arn(self.version.queue_name("work")))
        answer = self.module.handler(event, None)
        lines = self.results.read_text().splitlines() if self.results.exists() else []
        return answer, event, [json.loads(line) for line in lines]

    def http(self, request: dict[str, Any]) -> Any:
        route = self.version.queue_route
        assert route is not None
        event = http_api_event(route.method, self.version.base_path + route.path, json_body=request)
        return response_json(self.module.handler(event, None))


@pytest.fixture(params=QUEUED, ids=IDS)
def loaded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Loaded]:
    yield Loaded(request.param, tmp_path / "results.jsonl")
    clock.set_clock(None)


def test_given_mixed_batch_when_handled_then_each_message_has_one_result(loaded: Loaded) -> None:
    request = queue_example(loaded.version)
    bodies = [json.dumps({"id": f"m{n}", "request": request}) for n in range(3)]
    bodies += ["[]", json.dumps({"id": "x", "request": request, "extra": 1})]
    answer, event, results = loaded.batch(bodies)
    assert answer == {"batchItemFailures": []}
    by_id = {json.loads(r["body"])["id"]: json.loads(r["body"]) for r in results}
    assert len(results) == len(bodies)
    for n in range(3):
        assert by_id[f"m{n}"] == {"id": f"m{n}", "version": loaded.version.key,
                                  "response": loaded.http(request)}  # fmt: skip
    assert by_id[None]["problem"]["messageId"] == event["Records"][3]["messageId"]
    assert by_id["x"]["problem"]["errors"][0]["field"] == "extra"


def test_given_deprecated_version_when_answering_then_results_carry_its_lifecycle(
    loaded: Loaded,
) -> None:
    _, _, results = loaded.batch(
        [json.dumps({"id": "a", "request": queue_example(loaded.version)})]
    )
    (result,) = results
    names = set(result["attributes"])
    assert names == ({ATTRIBUTE_DEPRECATION, ATTRIBUTE_SUNSET}
                     if loaded.version.status == "deprecated" else set())  # fmt: skip


SUNSETTING = [v for v in QUEUED if v.status == "deprecated" and v.sunset_on is not None]


def test_given_the_stack_files_then_a_deprecated_queue_version_is_tested() -> None:
    assert SUNSETTING, "no stack file has a deprecated queue version: the 410 path goes untested"


@pytest.mark.parametrize("version", SUNSETTING, ids=[f"{v.service}-{v.key}" for v in SUNSETTING])
def test_given_after_the_sunset_when_messages_arrive_then_each_gets_a_410_not_a_retry(
    version: VersionSettings, tmp_path: Path
) -> None:
    loaded = Loaded(version, tmp_path / "results.jsonl")
    assert version.sunset_on is not None
    sunset = sunset_moment(version.sunset_on)
    clock.set_clock(lambda: sunset + 1)
    try:
        answer, _, results = loaded.batch(
            [json.dumps({"id": "late", "request": queue_example(version)}), "x"]
        )
    finally:
        clock.set_clock(None)
    assert answer == {"batchItemFailures": []}
    problems = [json.loads(r["body"])["problem"] for r in results]
    assert [p["status"] for p in problems] == [410, 410]
    assert {p["successor"] for p in problems} == {f"/{version.service}/{version.successor}"}


def test_given_reply_to_when_answered_then_the_result_goes_there(loaded: Loaded) -> None:
    reply = "https://sqs.us-east-1.amazonaws.com/123456789012/caller-replies"
    message = {"id": "r", "request": queue_example(loaded.version), "replyTo": reply}
    _, _, results = loaded.batch([json.dumps(message)])
    assert [r["queue"] for r in results] == [reply]
    bad = {**message, "replyTo": "http://169.254.169.254/latest/meta-data"}
    _, _, results = loaded.batch([json.dumps(bad)])
    assert json.loads(results[0]["body"])["problem"]["errors"][0]["field"] == "replyTo"


def test_given_unwritable_results_when_handled_then_every_message_is_retried(
    loaded: Loaded, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    version = loaded.version
    env = {**version.variables, **version.queue_variables((blocked / "results.jsonl").as_uri())}
    module = load_handler(version.service, version.key, env)
    event = sqs_event([json.dumps({"id": "a", "request": queue_example(version)}), "nope"],
                      queue_arn(version.queue_name("work")))  # fmt: skip
    answer = module.handler(event, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": r["messageId"]}
                                            for r in event["Records"]]}  # fmt: skip


def test_given_many_results_when_chunked_then_sqs_batch_limits_hold() -> None:
    bodies = ["x" * 1000] * 25 + ["y" * (RESULT_LIMIT // 2)] * 3
    chunks = list(_chunks(bodies))
    assert [b for _, chunk in chunks for b in chunk] == bodies
    assert all(len(chunk) <= SEND_BATCH_ENTRIES for _, chunk in chunks)
    assert all(sum(len(b) for b in chunk) <= RESULT_LIMIT for _, chunk in chunks)
    assert [start for start, _ in chunks] == [sum(len(c) for _, c in chunks[:i])
                                              for i in range(len(chunks))]  # fmt: skip


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
BODIES = st.one_of(
    st.text(max_size=200),
    JSON.map(json.dumps),
    st.fixed_dictionaries({"id": st.text(max_size=140) | JSON, "request": JSON},
                          optional={"replyTo": st.text(max_size=60) | JSON}).map(json.dumps),
)  # fmt: skip


@pytest.mark.parametrize("version", QUEUED, ids=IDS)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bodies=st.lists(BODIES, min_size=1, max_size=8))
def test_given_any_record_bodies_when_handled_then_never_an_exception_and_nothing_lost(
    version: VersionSettings, tmp_path: Path, bodies: list[str]
) -> None:
    results = tmp_path / f"{version.service}-{version.key}.jsonl"
    results.unlink(missing_ok=True)
    handler = handlers(version, results)
    event = sqs_event(bodies, queue_arn(version.queue_name("work")))
    answer = handler(event, None)
    failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    answered = [json.loads(json.loads(line)["body"]) for line in results.read_text().splitlines()]
    # every message is answered or retried, never both, never neither
    assert failed <= {r["messageId"] for r in event["Records"]}
    assert len(answered) + len(failed) == len(bodies)
    assert all(set(a) == {"id", "version", "problem"} or set(a) == {"id", "version", "response"}
               for a in answered)  # fmt: skip


_HANDLERS: dict[Path, Any] = {}


def handlers(version: VersionSettings, results: Path) -> Any:
    """One loaded handler per results file (one per version) for the whole property run."""
    if results not in _HANDLERS:
        env = {**version.variables, **version.queue_variables(results.as_uri())}
        _HANDLERS[results] = load_handler(version.service, version.key, env).handler
    return _HANDLERS[results]


def test_given_json_nested_deeper_than_python_recurses_then_it_gets_a_problem(
    loaded: Loaded,
) -> None:
    answer, _, results = loaded.batch(["[" * 30_000])
    assert answer == {"batchItemFailures": []}  # a problem result, never a retry into the DLQ
    assert json.loads(results[0]["body"])["problem"]["status"] == 400


class FlakySender:
    """Accepts the first `good` calls, then raises for every call; records what was sent."""

    def __init__(self, good: int) -> None:
        self.good = good
        self.sent: list[tuple[str, list[str]]] = []

    def send(self, url: str, bodies: list[str], attributes: dict[str, Any]) -> list[int]:
        failed: list[int] = []
        for start, chunk in _chunks(bodies):
            if self.good <= 0:
                failed += range(start, start + len(chunk))
                continue
            self.good -= 1
            self.sent.append((url, chunk))
        return failed


def consumer_for(version: VersionSettings, sender: FlakySender, count: Any = None) -> Any:
    """The version's SQS handler with `sender`, built as serve() builds it."""
    from mlserve_runtime.batch import consumer
    from mlserve_runtime.lifecycle import read_lifecycle

    module = load_handler(version.service, version.key, version.variables)
    route = version.queue_route
    assert route is not None and version.surface is not None
    models = version.surface["routes"][route.key]
    env = {
        **version.variables,
        **version.queue_variables("https://sqs.us-east-1.amazonaws.com/1/r"),
    }
    return consumer(
        service=version.service, version=version.key, answer=module.predict,
        request_model=getattr(module.contract, models["request"]),
        response_model=getattr(module.contract, models["response"]),
        lifecycle=read_lifecycle(env), env=env, max_body_bytes=65536,
        log=__import__("logging").getLogger("test"), count=count, sender=sender,
    )  # fmt: skip


@pytest.mark.parametrize("version", QUEUED, ids=IDS)
def test_given_a_send_that_fails_after_the_first_call_then_only_unsent_results_are_retried(
    version: VersionSettings,
) -> None:
    sender = FlakySender(good=1)
    handle = consumer_for(version, sender)
    bodies = [json.dumps({"id": f"m{n}", "request": queue_example(version)}) for n in range(15)]
    event = sqs_event(bodies, queue_arn(version.queue_name("work")))
    answer = handle(event, None)
    sent_ids = {json.loads(body)["id"] for _, chunk in sender.sent for body in chunk}
    retried = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
    ids = {r["messageId"]: f"m{n}" for n, r in enumerate(event["Records"])}
    # the first 10 were sent and are done; the other 5 are retried, none of them twice
    assert sent_ids == {f"m{n}" for n in range(10)}
    assert sorted(ids[item["itemIdentifier"]] for item in answer["batchItemFailures"]) == sorted(
        f"m{n}" for n in range(10, 15)
    )
    assert len(retried) == 5


@pytest.mark.parametrize("version", QUEUED, ids=IDS)
def test_given_reply_to_that_takes_nothing_then_results_go_to_the_results_queue(
    version: VersionSettings,
) -> None:
    class RefusingReplies(FlakySender):
        def send(self, url: str, bodies: list[str], attributes: dict[str, Any]) -> list[int]:
            if url.endswith("/caller"):
                raise RefusedError("AccessDenied")
            self.sent.append((url, bodies))
            return []

    sender = RefusingReplies(good=0)
    handle = consumer_for(version, sender)
    reply = "https://sqs.us-east-1.amazonaws.com/123456789012/caller"
    bodies = [json.dumps({"id": f"r{n}", "request": queue_example(version), "replyTo": reply})
              for n in range(3)]  # fmt: skip
    answer = handle(sqs_event(bodies, queue_arn(version.queue_name("work"))), None)
    assert answer == {"batchItemFailures": []}
    assert [url for url, _ in sender.sent] == ["https://sqs.us-east-1.amazonaws.com/1/r"]
    assert len(sender.sent[0][1]) == 3


@pytest.mark.parametrize("version", QUEUED, ids=IDS)
def test_given_reply_to_that_fails_for_a_while_then_its_messages_are_retried_not_shared(
    version: VersionSettings,
) -> None:
    class FailingReplies(FlakySender):
        def send(self, url: str, bodies: list[str], attributes: dict[str, Any]) -> list[int]:
            if url.endswith("/caller"):
                return list(range(len(bodies)))  # throttled: nothing taken, nothing refused
            self.sent.append((url, bodies))
            return []

    sender = FailingReplies(good=0)
    handle = consumer_for(version, sender)
    reply = "https://sqs.us-east-1.amazonaws.com/123456789012/caller"
    bodies = [json.dumps({"id": "p", "request": queue_example(version), "replyTo": reply})]
    event = sqs_event(bodies, queue_arn(version.queue_name("work")))
    answer = handle(event, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert sender.sent == []  # the private result never reached the shared results queue


class SqsStandIn:
    """send_message_batch as SQS answers it: the `fail_calls`-th calls raise `error`."""

    def __init__(self, fail_calls: set[int], error: Exception) -> None:
        self.calls, self.fail_calls, self.error = 0, fail_calls, error

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if self.calls in self.fail_calls:
            raise self.error
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def test_given_sqs_failing_one_call_then_the_sender_fails_only_that_calls_bodies() -> None:
    from botocore.exceptions import EndpointConnectionError

    sender = SqsSender()
    sender._client = SqsStandIn({2}, EndpointConnectionError(endpoint_url="https://sqs"))
    assert sender.send("https://q", ["{}"] * 25, {}) == list(range(10, 20))


def test_given_sqs_refusing_then_the_sender_says_refused() -> None:
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SendMessageBatch")
    sender = SqsSender()
    sender._client = SqsStandIn({1}, denied)
    with pytest.raises(RefusedError):
        sender.send("https://q", ["{}"], {})


@pytest.mark.parametrize("version", QUEUED[:1], ids=IDS[:1])
def test_given_unsent_results_then_the_metric_counts_them_as_failed_not_ok(
    version: VersionSettings,
) -> None:
    counted: list[tuple[str, int]] = []
    sender = FlakySender(good=0)  # sends nothing
    handle = consumer_for(
        version, sender, count=lambda v, lc, outcome, n: counted.append((outcome, n))
    )
    bodies = [json.dumps({"id": "a", "request": queue_example(version)}), "nope"]
    handle(sqs_event(bodies, queue_arn(version.queue_name("work"))), None)
    assert counted == [(FAILED, 2)]
