"""rollouts-shift-safely, called directly: pass, fail and unknown cases."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.support.pack import (
    ALIAS,
    FUNCTION,
    PROD_SERVICES,
    UNKNOWN,
    check,
    engine_config,
    pack_module,
    stack_args,
    stack_resource,
    use_stack_config,
)

rollout = pack_module("rollout")
GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
POLICY = "aws:iam/rolePolicy:RolePolicy"
ARN = "arn:aws:lambda:us-east-1:123456789012:function"
GROUP_ARN = "arn:aws:codedeploy:us-east-1:123456789012:deploymentgroup:mlserve-prod/churn_v2"
OWNED = ["functionVersion", "routingConfig"]


@pytest.fixture(autouse=True)
def rolled_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prod, with churn v2 rolled out as a canary."""
    services = copy.deepcopy(PROD_SERVICES)
    services["churn"]["versions"]["v2"]["rollout"] = {"strategy": "canary"}
    use_stack_config(monkeypatch, engine_config(services))


def alias(function: str, ignore: list[str]) -> Any:
    return stack_resource(
        ALIAS, {"name": f"prod_{function[-2:]}", "functionName": function, "functionVersion": "3"},
        name=f"{function}-alias", ignore_changes=ignore,
    )  # fmt: skip


def group(**changes: Any) -> Any:
    props = {
        "deploymentGroupName": "churn_v2",
        "deploymentStyle": {"deploymentType": "BLUE_GREEN",
                            "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        "autoRollbackConfiguration": {"enabled": True,
                                      "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
        "alarmConfiguration": {"enabled": True, "alarms": ["churn_v2:prod_v2-rollout-error-rate"]},
    }  # fmt: skip
    props.update(changes)
    return stack_resource(GROUP, props, name="churn-v2-deployment-group")


def hook(statements: list[dict[str, Any]]) -> list[Any]:
    function = stack_resource(
        FUNCTION, {"name": "CodeDeployHook_mlserve-prod",
                   "role": "arn:aws:iam::123456789012:role/rollout-hook-role-1234567"},
        name="rollout-hook",
    )  # fmt: skip
    policy = stack_resource(
        POLICY, {"role": "rollout-hook-role-1234567",
                 "policy": json.dumps({"Version": "2012-10-17", "Statement": statements})},
        name="rollout-hook-policy",
    )  # fmt: skip
    return [function, policy]


SCOPED = [
    {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": [f"{ARN}:churn_v2:*"]},
    {"Effect": "Allow", "Action": ["codedeploy:GetDeployment",
                                   "codedeploy:PutLifecycleEventHookExecutionStatus"],
     "Resource": [GROUP_ARN]},
]  # fmt: skip


def messages(*resources: Any) -> list[str]:
    return check(rollout.rollouts_shift_safely, stack_args(list(resources)))


def test_given_rolled_out_version_wired_by_the_program_when_checked_then_passes() -> None:
    assert messages(alias("churn_v2", OWNED), alias("churn_v1", []), group(), *hook(SCOPED)) == []


@pytest.mark.parametrize("ignore", [[], ["functionVersion"], [*OWNED, "description"]])
def test_given_rolled_out_alias_not_ignoring_exactly_owned_when_checked_then_violation(
    ignore: list[str],
) -> None:
    found = messages(alias("churn_v2", ignore), group())
    assert len(found) == 1 and "must ignore exactly functionVersion and routingConfig" in found[0]


def test_given_alias_ignoring_version_without_rollout_when_checked_then_violation() -> None:
    found = messages(alias("churn_v2", OWNED), group(), alias("churn_v1", OWNED))
    assert len(found) == 1 and "no deployment would ever move it" in found[0]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"deploymentStyle": {"deploymentType": "IN_PLACE",
                              "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"}}, "BLUE_GREEN"),
        ({"autoRollbackConfiguration": {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}},
         "roll back automatically"),
        ({"autoRollbackConfiguration": {"enabled": False}}, "roll back automatically"),
        ({"alarmConfiguration": {"enabled": True, "alarms": []}}, "at least one alarm"),
        ({"alarmConfiguration": {"enabled": False, "alarms": ["a"]}}, "at least one alarm"),
    ],
)  # fmt: skip
def test_given_unsafe_deployment_group_when_checked_then_violation(
    changes: dict[str, Any], expected: str
) -> None:
    found = messages(alias("churn_v2", OWNED), group(**changes))
    assert len(found) == 1 and expected in found[0] and "churn v2" in found[0]


def test_given_rolled_out_version_without_group_when_checked_then_violation() -> None:
    found = messages(alias("churn_v2", OWNED))
    assert len(found) == 1 and "no deployment group named churn_v2" in found[0]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ({"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}, "may invoke"),
        ({"Effect": "Allow", "Action": "lambda:InvokeFunction",
          "Resource": f"{ARN}:someone-elses:*"}, "may invoke"),
        ({"Effect": "Allow", "Action": "codedeploy:*", "Resource": "*"}, "only deployment groups"),
    ],
)  # fmt: skip
def test_given_hook_role_beyond_the_stack_when_checked_then_violation(
    statement: dict[str, Any], expected: str
) -> None:
    found = messages(alias("churn_v2", OWNED), group(), *hook([*SCOPED, statement]))
    assert len(found) == 1 and expected in found[0] and "CodeDeployHook_mlserve-prod" in found[0]


def test_given_alarms_unknown_when_previewed_then_cannot_run() -> None:
    with pytest.raises(UnknownValueError):
        messages(alias("churn_v2", OWNED),
                 group(alarmConfiguration={"enabled": True, "alarms": UNKNOWN}))  # fmt: skip
