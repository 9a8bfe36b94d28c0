"""The advisory policies: tracing, log retention and stage access logging, called directly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel
from pulumi_policy.proxy import UnknownValueError

from tests.support.pack import FUNCTION, UNKNOWN, check, pack_module, resource_args

observability = pack_module("observability")
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
STAGE = "aws:apigatewayv2/stage:Stage"
conventions = pack_module("conventions")
LOGS = {
    "destinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:x",
    "format": json.dumps(conventions.ACCESS_LOG_FORMAT),
}
WITHOUT_CALLER = {k: v for k, v in conventions.ACCESS_LOG_FORMAT.items() if k != "userArn"}


def test_given_observability_policies_then_all_are_advisory() -> None:
    policies = [
        observability.lambda_tracing_active,
        observability.log_groups_retention_set,
        observability.api_stage_access_logging,
    ]
    assert {policy.enforcement_level for policy in policies} == {EnforcementLevel.ADVISORY}


@pytest.mark.parametrize(
    ("policy", "resource_type", "props"),
    [
        ("lambda_tracing_active", FUNCTION, {"tracingConfig": {"mode": "Active"}}),
        ("log_groups_retention_set", LOG_GROUP, {"retentionInDays": 14.0}),
        ("api_stage_access_logging", STAGE, {"accessLogSettings": LOGS}),
        (
            "api_stage_access_logging",
            STAGE,
            {"accessLogSettings": {**LOGS, "destinationArn": UNKNOWN}},
        ),
    ],
)
def test_given_observable_resource_when_checked_then_passes(
    policy: str, resource_type: str, props: dict[str, Any]
) -> None:
    assert check(getattr(observability, policy), resource_args(resource_type, props)) == []


@pytest.mark.parametrize(
    ("policy", "resource_type", "props", "expected"),
    [
        ("lambda_tracing_active", FUNCTION, {}, "tracing mode None"),
        ("lambda_tracing_active", FUNCTION, {"tracingConfig": {"mode": "PassThrough"}}, "'Active'"),
        ("log_groups_retention_set", LOG_GROUP, {}, "keeps logs forever"),
        ("log_groups_retention_set", LOG_GROUP, {"retentionInDays": 0}, "keeps logs forever"),
        ("api_stage_access_logging", STAGE, {}, "writes no access logs"),
        ("api_stage_access_logging", STAGE, {"accessLogSettings": {"format": "{}"}}, "no access"),
        (
            "api_stage_access_logging",
            STAGE,
            {"accessLogSettings": {**LOGS, "format": "{}"}},
            "lacks routeKey, status, requestTimeEpoch, userArn, userAgent",
        ),
        (
            "api_stage_access_logging",
            STAGE,
            {"accessLogSettings": {**LOGS, "format": json.dumps(WITHOUT_CALLER)}},
            "lacks userArn",
        ),
        (
            "api_stage_access_logging",
            STAGE,
            {"accessLogSettings": {**LOGS, "format": "$context.requestId"}},
            "not JSON",
        ),
        (
            "api_stage_access_logging",
            STAGE,
            {"accessLogSettings": {**LOGS, "format": json.dumps({"x": "y" * 4000})}},
            "over",
        ),
    ],
)
def test_given_unobservable_resource_when_checked_then_violation(
    policy: str, resource_type: str, props: dict[str, Any], expected: str
) -> None:
    messages = check(getattr(observability, policy), resource_args(resource_type, props))
    assert len(messages) == 1 and expected in messages[0]


@pytest.mark.parametrize(
    ("policy", "resource_type", "props"),
    [
        ("lambda_tracing_active", FUNCTION, {"tracingConfig": {"mode": UNKNOWN}}),
        ("log_groups_retention_set", LOG_GROUP, {"retentionInDays": UNKNOWN}),
        ("api_stage_access_logging", STAGE, {"accessLogSettings": UNKNOWN}),
    ],
)
def test_given_unknown_value_when_previewed_then_cannot_run(
    policy: str, resource_type: str, props: dict[str, Any]
) -> None:
    with pytest.raises(UnknownValueError):
        check(getattr(observability, policy), resource_args(resource_type, props))
