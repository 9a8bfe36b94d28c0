"""Batch queues under the recording monitor, for every stack file: each version with `queue` gets
its work, dead-letter and results queues (named by the convention, within SQS's 80 characters),
a redrive after maxReceiveCount, a visibility timeout of 6x its function's, a mapping on its
alias with partial batch responses that waits for the role's permissions, a role that may take
from its own work queue and send to its own results queue and nothing else, alarms, and
consumers that may send work and read results. Versions without `queue` get none of it."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from components.settings import ConfigError, VersionSettings, settings_from_engine_config
from mlserve.offline import PROJECT_ROOT, ProgramRun, Registration, run_program
from mlserve.stack_files import stack_config, stack_files, stack_settings
from mlserve_runtime.conventions import (
    ENV_QUEUE_ROUTE,
    ENV_RESULTS_QUEUE_URL,
    QUEUE_NAME_LIMIT,
    QUEUE_SUFFIXES,
    RESULTS_QUEUE_ACTIONS,
    VISIBILITY_TIMEOUT_FACTOR,
    WORK_QUEUE_ACTIONS,
)
from tests.conftest import TODAY

QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
STACKS = list(stack_files())


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    """Every stack file's deployment."""
    found = {stack: run_program(stack_config(stack), stack=stack, today=TODAY) for stack in STACKS}
    for run in found.values():
        assert run.error is None, run.error
    return found


def versions(stack: str, queued: bool) -> list[VersionSettings]:
    settings = stack_settings(stack, today=date.fromisoformat(TODAY))
    return [v for v in settings.deployed_versions() if (v.queue is not None) == queued]


def queues_of(run: ProgramRun, version: VersionSettings) -> dict[str, Registration]:
    by_name = {queue.inputs["name"]: queue for queue in run.of_type(QUEUE)}
    return {kind: by_name[version.queue_name(kind)] for kind in QUEUE_SUFFIXES}


def role_statements(run: ProgramRun, version: VersionSettings) -> list[dict[str, Any]]:
    policy = run.by_name(f"{version.logical_name}-policy", ROLE_POLICY)
    return list(json.loads(policy.inputs["policy"])["Statement"])


def test_given_the_stack_files_then_some_version_has_a_queue() -> None:
    assert any(versions(stack, queued=True) for stack in STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_given_queue_when_registered_then_three_named_queues_redrive_after_max_receives(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    for version in versions(stack, queued=True):
        assert version.queue is not None
        found = queues_of(run, version)
        assert all(len(q.inputs["name"]) <= QUEUE_NAME_LIMIT for q in found.values())
        work, dead, results = found["work"], found["deadLetter"], found["results"]
        redrive = json.loads(work.inputs["redrivePolicy"])
        assert redrive == {"deadLetterTargetArn": dead.outputs["arn"],
                           "maxReceiveCount": version.queue.max_receive_count}  # fmt: skip
        (allow,) = [p for p in run.of_type(REDRIVE_ALLOW) if p.inputs["queueUrl"] == dead.id]
        assert json.loads(allow.inputs["redriveAllowPolicy"]) == {
            "redrivePermission": "byQueue", "sourceQueueArns": [work.outputs["arn"]]}  # fmt: skip
        assert dead.inputs["messageRetentionSeconds"] > work.inputs["messageRetentionSeconds"]
        assert all(q.inputs["sqsManagedSseEnabled"] for q in found.values())
        # a caller of an active major keeps its queues: the engine refuses to delete them
        assert work.protect == results.protect == (version.status == "active")
        assert not any(
            name.endswith(".fifo") for name in (q.inputs["name"] for q in found.values())
        )


@pytest.mark.parametrize("stack", STACKS)
def test_given_queue_when_registered_then_visibility_is_six_times_the_function_timeout(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    for version in versions(stack, queued=True):
        assert version.queue is not None
        function = run.by_name(version.logical_name, FUNCTION)
        visibility = queues_of(run, version)["work"].inputs["visibilityTimeoutSeconds"]
        timeout = function.inputs["timeout"]
        assert (
            visibility >= VISIBILITY_TIMEOUT_FACTOR * timeout + version.queue.batch_window_seconds
        )
        assert visibility <= 43_200  # SQS's maximum


@pytest.mark.parametrize("stack", STACKS)
def test_given_queue_when_registered_then_the_mapping_feeds_the_alias_after_its_permissions(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    mappings = run.of_type(MAPPING)
    assert len(mappings) == len(versions(stack, queued=True))
    for version in versions(stack, queued=True):
        assert version.queue is not None
        alias = run.by_name(f"{version.logical_name}-alias", ALIAS)
        assert alias.inputs["functionName"] == version.function_name
        work = queues_of(run, version)["work"]
        (mapping,) = [m for m in mappings if m.inputs["eventSourceArn"] == work.outputs["arn"]]
        assert mapping.inputs["functionName"] == alias.outputs["arn"]  # never the bare function
        assert mapping.inputs["functionName"].endswith(f":{version.alias_name}")
        assert mapping.inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping.inputs["batchSize"] == version.queue.batch_size
        assert (
            mapping.inputs["maximumBatchingWindowInSeconds"] == version.queue.batch_window_seconds
        )
        assert mapping.inputs["scalingConfig"] == {
            "maximumConcurrency": version.queue.max_concurrency
        }
        policy = run.by_name(f"{version.logical_name}-policy", ROLE_POLICY)
        assert {alias.urn, policy.urn} <= set(mapping.dependencies)


@pytest.mark.parametrize("stack", STACKS)
def test_given_queue_when_registered_then_the_role_takes_work_and_sends_results_only(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    for version in versions(stack, queued=True):
        found = queues_of(run, version)
        grants = {
            (action, statement["Resource"])
            for statement in role_statements(run, version)
            for action in statement["Action"]
            if action.startswith("sqs:")
        }
        assert grants == {
            *((a, found["work"].outputs["arn"]) for a in WORK_QUEUE_ACTIONS),
            *((a, found["results"].outputs["arn"]) for a in RESULTS_QUEUE_ACTIONS),
        }
        variables = run.by_name(version.logical_name, FUNCTION).inputs["environment"]["variables"]
        assert variables[ENV_RESULTS_QUEUE_URL] == found["results"].outputs["url"]
        assert variables[ENV_QUEUE_ROUTE] == version.queue_route.key  # type: ignore[union-attr]
    for version in versions(stack, queued=False):
        actions = [a for s in role_statements(run, version) for a in s["Action"]]
        assert not any(action.startswith("sqs:") for action in actions)
        variables = run.by_name(version.logical_name, FUNCTION).inputs["environment"]["variables"]
        assert ENV_RESULTS_QUEUE_URL not in variables and ENV_QUEUE_ROUTE not in variables


@pytest.mark.parametrize("stack", STACKS)
def test_given_queue_when_registered_then_dead_letters_and_old_messages_alarm(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    sqs_alarms = [a for a in run.of_type(ALARM) if a.inputs["namespace"] == "AWS/SQS"]
    assert len(sqs_alarms) == 2 * len(versions(stack, queued=True))
    for version in versions(stack, queued=True):
        assert version.queue is not None
        found = queues_of(run, version)
        watched = {(a.inputs["dimensions"]["QueueName"], a.inputs["metricName"]): a
                   for a in sqs_alarms}  # fmt: skip
        dead = watched[(found["deadLetter"].inputs["name"], "ApproximateNumberOfMessagesVisible")]
        assert dead.inputs["threshold"] == 0
        assert dead.inputs["comparisonOperator"] == "GreaterThanThreshold"
        oldest = watched[(found["work"].inputs["name"], "ApproximateAgeOfOldestMessage")]
        assert oldest.inputs["threshold"] == version.queue.oldest_message_alarm_seconds


@pytest.mark.parametrize("stack", STACKS)
def test_given_consumers_when_registered_then_they_may_send_work_and_read_results(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    for version in versions(stack, queued=True):
        found = queues_of(run, version)
        consumers = sorted(c.role_arn for c in version.owner.consumers
                           if version.key in c.versions)  # fmt: skip
        for kind, action in (("work", "sqs:SendMessage"), ("results", "sqs:ReceiveMessage")):
            (policy,) = [p for p in run.of_type(QUEUE_POLICY)
                         if p.inputs["queueUrl"] == found[kind].id]  # fmt: skip
            statements = json.loads(policy.inputs["policy"])["Statement"]
            allowed = [s for s in statements if s["Effect"] == "Allow"]
            assert [s["Principal"]["AWS"] for s in allowed] == ([consumers] if consumers else [])
            assert all(action in s["Action"] for s in allowed)
            (tls,) = [s for s in statements if s["Effect"] == "Deny"]
            assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        published = run.outputs["consumerPolicies"]
        for role in consumers:
            documents = [
                json.loads(r.inputs["policy"])
                for r in run.of_type(ROLE_POLICY)
                if r.inputs["role"] == role.rsplit("/", 1)[1]
            ] or [published[role][version.service]]
            grants = {(s["Sid"], arn) for d in documents for s in d["Statement"]
                      for arn in ([s["Resource"]] if isinstance(s["Resource"], str)
                                  else s["Resource"])}  # fmt: skip
            assert ("SendWork", found["work"].outputs["arn"]) in grants
            assert ("ReadResults", found["results"].outputs["arn"]) in grants


@pytest.mark.parametrize("stack", STACKS)
def test_given_queues_when_registered_then_output_and_ledger_name_them(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    queued = versions(stack, queued=True)
    assert set(run.outputs["queues"]) == {f"{v.service}/{v.key}" for v in queued}
    for version in queued:
        urls = run.outputs["queues"][f"{version.service}/{version.key}"]
        assert urls == {kind: queues_of(run, version)[kind].outputs["url"]
                        for kind in QUEUE_SUFFIXES}  # fmt: skip
        surface = run.outputs["versions"][version.service][version.key]["surface"]
        assert version.queue_route is not None
        assert surface["queue"] == {
            **{kind: version.queue_name(kind) for kind in QUEUE_SUFFIXES},
            "route": version.queue_route.key,
        }
    for version in versions(stack, queued=False):
        assert "queue" not in run.outputs["versions"][version.service][version.key]["surface"]
        assert not [q for q in run.of_type(QUEUE) if q.inputs["name"].startswith(
            f"{version.function_name}-")]  # fmt: skip


def with_queue(stack: str, queue: dict[str, Any], **stack_keys: str) -> dict[str, str]:
    config = dict(stack_config(stack))
    services = json.loads(config["mlserve:services"])
    service = next(iter(services))
    newest = max(services[service]["versions"], key=lambda key: int(key[1:]))
    services[service]["versions"][newest]["queue"] = queue
    return {**config, **stack_keys, "mlserve:services": json.dumps(services)}


@pytest.mark.parametrize(
    ("queue", "stack_keys", "expected"),
    [
        ({"batchSize": 11}, {}, "batchWindowSeconds of at least 1"),
        ({"maxConcurrency": 1}, {}, "greater than or equal to 2"),
        ({"maxReceiveCount": 1001}, {}, "less than or equal to 1000"),
        ({"route": "POST /nowhere"}, {}, "is not a route of"),
        ({}, {"mlserve:namePrefix": "p" * 32, "mlserve:environment": "e" * 32}, "SQS allows 80"),
    ],
)
def test_given_bad_queue_config_when_run_then_nothing_is_registered_and_the_key_is_named(
    queue: dict[str, Any], stack_keys: dict[str, str], expected: str
) -> None:
    stack = STACKS[0]
    config = with_queue(stack, queue, **stack_keys)
    with pytest.raises(ConfigError) as error:
        settings_from_engine_config(config, stack=stack, project_root=PROJECT_ROOT,
                                    today=date.fromisoformat(TODAY))  # fmt: skip
    assert expected in str(error.value)
    assert "mlserve:" in str(error.value)
    run = run_program(config, stack=stack, today=TODAY)
    assert run.error is not None and expected in run.error
    assert not [r for r in run.registrations if r.custom]
