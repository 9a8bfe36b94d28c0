"""Rollouts shift traffic safely: the alias of every version whose config sets `rollout` leaves
`functionVersion` and `routingConfig` to CodeDeploy (and no other alias does, or it could never
move), its deployment group shifts with traffic control, rolls back on failure and on an alarm,
and watches at least one alarm; the pre-traffic hook may invoke only this stack's functions and
report only on this stack's deployment groups."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import parse_function_name
from properties import Unknown, Unknowns, guarded, items, lookup, text
from resources import ALIAS, FUNCTION, function_name_of
from stack_config import StackConfig, stack_config
from stack_index import index_stack

GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
OWNED = frozenset({"functionVersion", "routingConfig"})
ROLLBACK_EVENTS = frozenset({"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"})


def rollouts_shift_safely_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Relate each alias to its version's config and deployment group, and the hook to its
    role's policy."""
    config = stack_config()
    index = index_stack(args.resources)
    unknowns = Unknowns()
    groups = {text(group.props, "deploymentGroupName"): group for group in index.of_type(GROUP)}
    for alias in index.of_type(ALIAS):
        named = text(alias.props, "functionName")
        if not isinstance(named, str):
            continue  # the naming and routing rules judge an alias without a readable function
        name = function_name_of(named)
        ref = parse_function_name(config.name_prefix, name)
        entry = config.version(ref.service, ref.version) if ref is not None else None
        ignored = set(alias.opts.ignore_changes or [])
        owned = ignored & OWNED
        if entry is None or not entry.rolls_out:
            if owned:
                report_violation(
                    f"alias {text(alias.props, 'name')!r} of {name} ignores changes to "
                    f"{', '.join(sorted(owned))} without a rollout: no deployment would ever "
                    "move it. Set rollout on the version, or drop ignoreChanges",
                    alias.urn,
                )
            continue
        where = f"{ref} ({name})"
        if ignored != OWNED:
            report_violation(
                f"{where} rolls out, so its alias must ignore exactly functionVersion and "
                f"routingConfig (CodeDeploy moves them), not {sorted(ignored) or 'nothing'}",
                alias.urn,
            )
        group = groups.get(name)
        if group is None:
            report_violation(f"{where} rolls out but has no deployment group named {name}", None)
        else:
            for problem in _group_problems(group, unknowns):
                report_violation(f"{where}: deployment group {problem}", group.urn)
    if config.hook_function is not None:
        for function in index.of_type(FUNCTION):
            if text(function.props, "name") == config.hook_function:
                for problem in _hook_problems(function, index.of_type(ROLE_POLICY), config):
                    report_violation(f"hook {config.hook_function}: {problem}", function.urn)
    unknowns.raise_if_any()


def _group_problems(group: PolicyResource, unknowns: Unknowns) -> Iterator[str]:
    style = lookup(group.props, "deploymentStyle")
    if isinstance(style, Unknown):
        unknowns.note(f"{group.name}.deploymentStyle")
    elif (lookup(style, "deploymentType"), lookup(style, "deploymentOption")) != (
        "BLUE_GREEN", "WITH_TRAFFIC_CONTROL",
    ):  # fmt: skip
        yield "must shift traffic: deploymentStyle BLUE_GREEN with WITH_TRAFFIC_CONTROL"
    rollback = lookup(group.props, "autoRollbackConfiguration")
    events = set(items(rollback, "events"))
    if lookup(rollback, "enabled") is not True or not events >= ROLLBACK_EVENTS:
        yield (
            "must roll back automatically on DEPLOYMENT_FAILURE and DEPLOYMENT_STOP_ON_ALARM "
            "(autoRollbackConfiguration)"
        )
    alarms = lookup(group.props, "alarmConfiguration")
    if isinstance(lookup(alarms, "alarms"), Unknown):
        unknowns.note(f"{group.name}.alarmConfiguration.alarms")
    elif lookup(alarms, "enabled") is not True or not list(items(alarms, "alarms")):
        yield "must watch at least one alarm (alarmConfiguration enabled, with alarms)"


def _hook_problems(
    function: PolicyResource, policies: list[PolicyResource], config: StackConfig
) -> Iterator[str]:
    """The hook's role may invoke only this stack's functions and act only on deployment
    groups; `*` on either is a violation."""
    role = text(function.props, "role")
    if not isinstance(role, str):
        return
    role_name = role.rsplit("/", 1)[-1]
    for policy in policies:
        if text(policy.props, "role") != role_name:
            continue
        document = text(policy.props, "policy")
        if not isinstance(document, str):
            continue
        try:
            statements = json.loads(document).get("Statement", [])
        except ValueError:
            yield f"its policy {policy.name!r} is not JSON"
            continue
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = _listed(statement.get("Action"))
            resources = _listed(statement.get("Resource"))
            if "lambda:InvokeFunction" in actions or "lambda:*" in actions:
                foreign = [r for r in resources if not _own_function(r, config)]
                if foreign:
                    yield (
                        f"may invoke {foreign}; it may invoke only this stack's version "
                        "functions (their ARNs with :*)"
                    )
            if any(action.startswith("codedeploy:") for action in actions):
                loose = [r for r in resources if ":deploymentgroup:" not in r]
                if loose:
                    yield f"acts on CodeDeploy resources {loose}; only deployment groups"


def _listed(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, list) else []


def _own_function(arn: str, config: StackConfig) -> bool:
    parts = arn.split(":")
    if len(parts) < 7 or parts[5] != "function":
        return False
    return parse_function_name(config.name_prefix, parts[6]) is not None


rollouts_shift_safely = StackValidationPolicy(
    name="rollouts-shift-safely",
    description=(
        "Requires every rolled-out version's alias to leave functionVersion and routingConfig "
        "to CodeDeploy (and no other alias to ignore them), a traffic-shifting deployment group "
        "that rolls back on failure and alarms, and a pre-traffic hook scoped to the stack."
    ),
    validate=guarded(rollouts_shift_safely_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Set rollout in the version's config and let the program create the rollout "
        "(components/rollout.py); never hand an alias to CodeDeploy without alarms and "
        "automatic rollback."
    ),
)
