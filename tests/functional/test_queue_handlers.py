"""A queue version's handler from the package the program registers, run the way Lambda runs it
(extracted with its modes, as another user, the runtime's boto3 beside the layer), fed real SQS
events, sending its results to SQS served by moto in server mode (`AWS_ENDPOINT_URL`): valid
messages get the same answer as the HTTP route, contract violations get a problem result and are
not retried, a result that cannot be sent is, and a deprecated version's results carry its
Deprecation and Sunset."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pulumi
import pytest
from moto.server import ThreadedMotoServer

from components.settings import VersionSettings
from mlserve.local_api import lambda_environment
from mlserve.offline import ProgramRun, run_program
from mlserve.stack_files import stack_config, stack_settings
from mlserve_runtime.conventions import (
    ATTRIBUTE_DEPRECATION,
    ATTRIBUTE_SUNSET,
    ENV_RESULTS_QUEUE_URL,
    deprecation_header,
    http_date,
    outcome,
    sunset_moment,
)
from mlserve_runtime.queue_events import queue_arn, sqs_event
from tests.conftest import TODAY
from tests.support.events import http_api_event, response_json
from tests.support.lambda_sandbox import emf_lines, host_layer, lambda_sandbox
from tests.support.queues import queue_example, queue_versions

FUNCTION = "aws:lambda/function:Function"
QUEUED = [(stack, v.function_name) for stack, v in queue_versions(TODAY)]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto in server mode on a free local port, for the handler's own process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    return {stack: run_program(stack_config(stack), stack=stack, today=TODAY)
            for stack in {stack for stack, _ in QUEUED}}  # fmt: skip


def sqs(endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=endpoint, **{
        "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
        "region_name": "us-east-1"})  # fmt: skip


def drained(client: Any, url: str) -> list[dict[str, Any]]:
    """Every message on a queue, deleted as read."""
    found: list[dict[str, Any]] = []
    while batch := client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", []):
        found += batch
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
        client.delete_message_batch(QueueUrl=url, Entries=entries)
    return found


def registered(run: ProgramRun, version: VersionSettings) -> tuple[Any, dict[str, str]]:
    (function,) = [f for f in run.of_type(FUNCTION) if f.inputs["name"] == version.function_name]
    environment = function.inputs["environment"]
    if "value" in environment and len(environment) == 2:  # a secret output
        environment = environment["value"]
    return function, dict(environment["variables"])


@pytest.mark.parametrize(("stack", "function_name"), QUEUED)
def test_given_sqs_batch_when_the_registered_package_handles_it_then_results_reach_sqs(
    stack: str, function_name: str, runs: dict[str, ProgramRun], endpoint: str
) -> None:
    # GIVEN the registered zip and environment, and the version's results queue on moto
    settings = stack_settings(stack)
    version = next(v for v in settings.deployed_versions() if v.function_name == function_name)
    assert version.queue_route is not None
    function, variables = registered(runs[stack], version)
    client = sqs(endpoint)
    results_url = client.create_queue(QueueName=version.queue_name("results"))["QueueUrl"]
    replies_url = client.create_queue(QueueName=f"{function_name}-caller-replies")["QueueUrl"]
    missing_url = results_url.rsplit("/", 1)[0] + "/no-such-queue"
    environment = {**lambda_environment(settings, version), **variables, **CREDENTIALS,
                   ENV_RESULTS_QUEUE_URL: results_url, "AWS_ENDPOINT_URL": endpoint}  # fmt: skip
    request = queue_example(version)
    bodies = {
        "valid": json.dumps({"id": "valid-1", "request": request}),
        "violating": json.dumps({"id": "violating-1", "request": {"unknown": True}}),
        "not-json": "{not json",
        "reply": json.dumps({"id": "reply-1", "request": request, "replyTo": replies_url}),
        "refused-reply": json.dumps(
            {"id": "refused-1", "request": request, "replyTo": missing_url}
        ),
    }
    event = sqs_event(list(bodies.values()), queue_arn(version.queue_name("work")))
    ids = dict(zip(bodies, (r["messageId"] for r in event["Records"]), strict=True))
    http = http_api_event(version.queue_route.method, version.base_path + version.queue_route.path,
                          json_body=request)  # fmt: skip
    # WHEN Lambda's mapping invokes the handler with the batch (and HTTP asks the same)
    with lambda_sandbox(
        package_of(function), host_layer(version.runtime, version.architecture),
        function.inputs["handler"], environment, sdk=True,
    ) as sandbox:  # fmt: skip
        answer, reply = sandbox.invoke([event, http])
    # THEN nothing is retried: every message got its result or its problem
    assert answer == {"batchItemFailures": []}, sandbox.log[-3000:]
    results = {json.loads(m["Body"])["id"]: m for m in drained(client, results_url)}
    replies = {json.loads(m["Body"])["id"]: m for m in drained(client, replies_url)}
    assert set(replies) == {"reply-1"}
    assert set(results) == {"valid-1", "violating-1", None, "refused-1"}
    expected = response_json(reply)
    for message in (results["valid-1"], results["refused-1"], replies["reply-1"]):
        body = json.loads(message["Body"])
        assert body["version"] == version.key and body["response"] == expected
    for key, caller_id in (("violating", "violating-1"), ("not-json", None)):
        problem = json.loads(results[caller_id]["Body"])["problem"]
        assert problem["status"] == 400 and problem["messageId"] == ids[key]
        assert problem["errors"], problem
    # AND the results carry the version's lifecycle as message attributes, as HTTP headers do
    for message in [*results.values(), *replies.values()]:
        attributes = {k: v["StringValue"] for k, v in message.get("MessageAttributes", {}).items()}
        if version.status == "deprecated":
            assert version.deprecated_on is not None and version.sunset_on is not None
            assert attributes == {
                ATTRIBUTE_DEPRECATION: deprecation_header(version.deprecated_on),
                ATTRIBUTE_SUNSET: http_date(sunset_moment(version.sunset_on)),
            }
        else:
            assert attributes == {}
    # AND the batch was counted once per outcome, by version and lifecycle
    counted = [(line["dimensions"]["outcome"], line["values"]) for line in emf_lines(sandbox.log)]
    assert counted == [(outcome(200), [3]), (outcome(400), [2]), (outcome(200), [1])]
    assert {line["dimensions"]["lifecycle"] for line in emf_lines(sandbox.log)} == {version.status}


@pytest.mark.parametrize(("stack", "function_name"), QUEUED)
def test_given_results_queue_unreachable_when_handled_then_every_message_is_retried(
    stack: str, function_name: str, runs: dict[str, ProgramRun], endpoint: str
) -> None:
    settings = stack_settings(stack)
    version = next(v for v in settings.deployed_versions() if v.function_name == function_name)
    function, variables = registered(runs[stack], version)
    client = sqs(endpoint)
    present = client.create_queue(QueueName=version.queue_name("results"))["QueueUrl"]
    missing = present.rsplit("/", 1)[0] + "/deleted-results-queue"
    environment = {**lambda_environment(settings, version), **variables, **CREDENTIALS,
                   ENV_RESULTS_QUEUE_URL: missing, "AWS_ENDPOINT_URL": endpoint}  # fmt: skip
    bodies = [json.dumps({"id": "a", "request": queue_example(version)}), "{not json"]
    event = sqs_event(bodies, queue_arn(version.queue_name("work")))
    with lambda_sandbox(
        package_of(function), host_layer(version.runtime, version.architecture),
        function.inputs["handler"], environment, sdk=True,
    ) as sandbox:  # fmt: skip
        (answer,) = sandbox.invoke([event])
    # a result that could not be sent is not lost: its message goes back to the queue
    assert answer == {"batchItemFailures": [{"itemIdentifier": r["messageId"]}
                                            for r in event["Records"]]}  # fmt: skip


def package_of(function: Any) -> Path:
    archive = function.inputs["code"]
    assert isinstance(archive, pulumi.FileArchive)
    return Path(archive.path)
