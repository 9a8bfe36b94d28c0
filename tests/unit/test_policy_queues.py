"""queues-feed-their-own-alias and queue-grants-scoped, called directly: a mapping reads its
version's work queue into that version's alias with partial batch responses and a long enough
visibility timeout, even while ARNs are unknown (through the resources they come from); identity
policies name their queues. Pass, fail and unknown cases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from mlserve_runtime.conventions import VISIBILITY_TIMEOUT_FACTOR, alias_name, queue_name
from tests.support.pack import (
    ALIAS,
    FUNCTION,
    UNKNOWN,
    check,
    engine_config,
    link,
    pack_module,
    resource_args,
    stack_args,
    stack_resource,
    use_stack_config,
    version_function,
)

queues = pack_module("queues")
QUEUE = "aws:sqs/queue:Queue"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
ACCOUNT = "123456789012"
TIMEOUT = 10
WORK = queue_name("", "churn", "v2", "prod")


def arn(kind: str, name: str) -> str:
    return f"arn:aws:{kind}:us-east-1:{ACCOUNT}:{name}"


def stack(**mapping: Any) -> list[PolicyResource]:
    """churn v2's function, alias, work queue and a mapping (its props overridden by `mapping`)."""
    function = stack_resource(FUNCTION, {**version_function("churn", "v2"), "timeout": TIMEOUT},
                              name="churn-v2")  # fmt: skip
    alias = stack_resource(ALIAS, {"name": alias_name("prod", "v2"), "functionName": "churn_v2",
                                   "arn": arn("lambda", "function:churn_v2:prod_v2")},
                           name="churn-v2-alias")  # fmt: skip
    queue = stack_resource(QUEUE, {"name": WORK, "arn": arn("sqs", WORK),
                                   "visibilityTimeoutSeconds": VISIBILITY_TIMEOUT_FACTOR * TIMEOUT},
                           name="churn-v2-queues-work")  # fmt: skip
    props = {
        "eventSourceArn": arn("sqs", WORK),
        "functionName": arn("lambda", "function:churn_v2:prod_v2"),
        "functionResponseTypes": ["ReportBatchItemFailures"],
        **mapping,
    }
    resource = stack_resource(MAPPING, props, name="churn-v2-queue-mapping")
    link(resource, "eventSourceArn", queue)
    link(resource, "functionName", alias)
    return [function, alias, queue, resource]


@pytest.fixture(autouse=True)
def prod(monkeypatch: pytest.MonkeyPatch) -> None:
    use_stack_config(monkeypatch, engine_config())


def test_given_mapping_on_its_own_alias_then_it_passes() -> None:
    assert check(queues.queues_feed_their_own_alias, stack_args(stack())) == []


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"functionName": arn("lambda", "function:churn_v2")}, "churn_v2 (unqualified)"),
        ({"functionName": "churn_v2"}, "(unqualified)"),
        ({"functionName": arn("lambda", "function:churn_v1:prod_v1")}, "churn_v1:prod_v1"),
        ({"functionName": arn("lambda", "function:churn_v2:$LATEST")}, "churn_v2:$LATEST"),
        ({"functionResponseTypes": []}, "partial batch failures"),
        ({"eventSourceArn": arn("sqs", "someone-elses-queue")}, "no version's work queue"),
    ],
)
def test_given_mapping_off_its_version_then_it_is_named(
    mapping: dict[str, Any], expected: str
) -> None:
    resources = stack(**mapping)
    if "eventSourceArn" in mapping:
        resources[-1].property_dependencies.clear()
        resources[-1].dependencies.clear()
    messages = check(queues.queues_feed_their_own_alias, stack_args(resources))
    assert any(expected in message for message in messages), messages


def test_given_short_visibility_then_the_needed_seconds_are_named() -> None:
    resources = stack()
    resources[2] = stack_resource(QUEUE, {"name": WORK, "visibilityTimeoutSeconds": TIMEOUT},
                                  name="churn-v2-queues-work")  # fmt: skip
    link(resources[-1], "eventSourceArn", resources[2])
    messages = check(queues.queues_feed_their_own_alias, stack_args(resources))
    assert any(f"at least {VISIBILITY_TIMEOUT_FACTOR * TIMEOUT}" in m for m in messages), messages


def test_given_preview_with_unknown_arns_then_the_linked_resources_decide() -> None:
    # GIVEN a first preview: both ARNs unknown, the engine's property dependencies known
    good = stack(eventSourceArn=UNKNOWN, functionName=UNKNOWN)
    assert check(queues.queues_feed_their_own_alias, stack_args(good)) == []
    # a mapping whose functionName comes from another version's alias is still caught
    bad = stack(eventSourceArn=UNKNOWN, functionName=UNKNOWN)
    other = stack_resource(
        ALIAS, {"name": "prod_v1", "functionName": "churn_v1"}, name="churn-v1-alias"
    )
    link(bad[-1], "functionName", other)
    bad[-1].property_dependencies["functionName"] = [other]
    messages = check(queues.queues_feed_their_own_alias, stack_args([*bad, other]))
    assert any("churn_v1:prod_v1" in m for m in messages), messages


def test_given_unknown_target_without_links_then_the_check_waits_for_the_update() -> None:
    resources = stack(functionName=UNKNOWN)
    resources[-1].property_dependencies.pop("functionName")
    resources[-1].dependencies[:] = [
        r for r in resources[-1].dependencies if r.resource_type != ALIAS
    ]
    with pytest.raises(UnknownValueError):
        check(queues.queues_feed_their_own_alias, stack_args(resources))


def policy(statement: dict[str, Any]) -> dict[str, Any]:
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Effect": "Allow", "Action": "sqs:*", "Resource": arn("sqs", WORK)}, "sqs:*"),
        ({"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"}, "name the queues"),
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, "allows *"),
        (
            {"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": arn("sqs", "churn_v*")},
            "by ARN",
        ),
    ],
)
def test_given_broad_sqs_grant_then_it_is_named(statement: dict[str, Any], expected: str) -> None:
    args = resource_args("aws:iam/rolePolicy:RolePolicy", policy(statement), name="churn-v2-policy")
    messages = check(queues.queue_grants_scoped, args)
    assert any(expected in message for message in messages), messages


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": arn("sqs", WORK)},
        {"Effect": "Deny", "Action": "sqs:*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "*"},
    ],
)
def test_given_named_sqs_grant_then_it_passes(statement: dict[str, Any]) -> None:
    args = resource_args("aws:iam/rolePolicy:RolePolicy", policy(statement), name="churn-v2-policy")
    assert check(queues.queue_grants_scoped, args) == []


def test_given_unknown_policy_document_then_the_grant_check_waits() -> None:
    args = resource_args("aws:iam/rolePolicy:RolePolicy", {"policy": UNKNOWN}, name="p")
    with pytest.raises(UnknownValueError):
        check(queues.queue_grants_scoped, args)


def test_given_filtered_mapping_then_vanishing_messages_are_named() -> None:
    resources = stack(filterCriteria={"filters": [{"pattern": '{"body": {"id": ["x"]}}'}]})
    messages = check(queues.queues_feed_their_own_alias, stack_args(resources))
    assert any("vanish unanswered" in m for m in messages), messages


def test_given_fifo_queue_mapping_then_it_is_no_versions_work_queue() -> None:
    resources = stack(eventSourceArn=arn("sqs", f"{WORK}.fifo"))
    resources[-1].property_dependencies.clear()
    resources[-1].dependencies.clear()
    messages = check(queues.queues_feed_their_own_alias, stack_args(resources))
    assert any("no version's work queue" in m for m in messages), messages


def test_given_batching_window_then_visibility_must_cover_it_too() -> None:
    resources = stack(maximumBatchingWindowInSeconds=20)
    messages = check(queues.queues_feed_their_own_alias, stack_args(resources))
    assert any(f"at least {VISIBILITY_TIMEOUT_FACTOR * TIMEOUT + 20}" in m for m in messages)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "NotResource": arn("sqs", "x")},
        {"Effect": "Allow", "Action": "sq?:*", "Resource": arn("sqs", WORK)},
        {"Effect": "Allow", "Action": "SQS:SendMessage", "Resource": arn("sqs", "churn_v?")},
    ],
)
def test_given_sqs_grant_in_disguise_then_it_is_named(statement: dict[str, Any]) -> None:
    args = resource_args("aws:iam/rolePolicy:RolePolicy", policy(statement), name="p")
    assert check(queues.queue_grants_scoped, args), statement


def test_given_role_inline_policy_or_sqs_managed_policy_then_it_is_named() -> None:
    broad = policy({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"})
    role = resource_args("aws:iam/role:Role", {"inlinePolicies": [{"name": "x", **broad}]},
                         name="r")  # fmt: skip
    assert any("sqs:*" in m for m in check(queues.queue_grants_scoped, role))
    full = "arn:aws:iam::aws:policy/AmazonSQSFullAccess"
    for resource_type, props in (
        ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r", "policyArn": full}),
        ("aws:iam/role:Role", {"managedPolicyArns": [full]}),
    ):
        messages = check(queues.queue_grants_scoped, resource_args(resource_type, props, name="a"))
        assert any("AmazonSQSFullAccess" in m for m in messages), messages
    plain = resource_args("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                          {"role": "r", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                          name="b")  # fmt: skip
    assert check(queues.queue_grants_scoped, plain) == []


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x"},
        {"Effect": "Allow", "NotAction": "sqs:*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": ["iam:*", "*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "(x:y", "Resource": "*"},
    ],
)
def test_given_statement_that_cannot_reach_sqs_then_the_grant_check_passes(
    statement: dict[str, Any],
) -> None:
    args = resource_args("aws:iam/rolePolicy:RolePolicy", policy(statement), name="p")
    assert check(queues.queue_grants_scoped, args) == []


def test_given_lambdas_managed_sqs_execution_role_then_it_is_named() -> None:
    arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
    args = resource_args("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                         {"role": "r", "policyArn": arn}, name="a")  # fmt: skip
    assert any(
        "AWSLambdaSQSQueueExecutionRole" in m for m in check(queues.queue_grants_scoped, args)
    )


def test_given_unknown_role_lists_then_the_grant_check_waits() -> None:
    for key in ("inlinePolicies", "managedPolicyArns"):
        args = resource_args("aws:iam/role:Role", {key: UNKNOWN}, name="r")
        with pytest.raises(UnknownValueError):
            check(queues.queue_grants_scoped, args)
