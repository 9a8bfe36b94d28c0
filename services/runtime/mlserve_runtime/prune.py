"""Pruning of published Lambda versions and layer versions that nothing can reach: the one
implementation behind `python -m mlserve prune` and the scheduled janitor function.

Kept: `$LATEST`; every version an alias serves or routes weight to; versions with provisioned
concurrency, an event source mapping or a permission qualified on them; the versions the caller
protects (pins of every stack file, in-flight CodeDeploy deployments); the newest `keep`. A layer
version stays while a kept function version (or `$LATEST`) uses it, or among its newest `keep`.
Aliases are read again right before deleting. The clients are boto3's (passed in; this module
imports no AWS SDK).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlserve_runtime.conventions import IN_FLIGHT_DEPLOYMENTS, shift_properties

NEWEST = "one of the newest {keep}"


@dataclass
class Plan:
    """What to delete of one function (or layer), and why every other version stays."""

    name: str
    delete: list[int] = field(default_factory=list)
    keep: dict[int, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self, applied: bool) -> list[str]:
        verb = "deleted" if applied else "would delete"
        lines = [f"{self.name}: {verb} {_numbers(self.delete) or 'nothing'}"]
        lines += [f"    keeps {number}: {', '.join(reasons)}"
                  for number, reasons in sorted(self.keep.items())]  # fmt: skip
        lines += [f"    note: {note}" for note in self.notes]
        return lines


def _numbers(numbers: Iterable[int]) -> str:
    return ", ".join(str(n) for n in sorted(numbers))


def _pages(client: Any, operation: str, key: str, **arguments: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(key, [])


def event_source_mappings(lambda_client: Any) -> dict[str, list[tuple[str, str]]]:
    """Every event source mapping of the account, as (qualifier, UUID) by function name. Listed
    once without a function filter: a filter by the unqualified name need not return the
    mappings of its versions."""
    found: dict[str, list[tuple[str, str]]] = {}
    for mapping in _pages(lambda_client, "list_event_source_mappings", "EventSourceMappings"):
        parts = mapping["FunctionArn"].split(":")
        if len(parts) == 8:  # arn:aws:lambda:region:account:function:name:qualifier
            found.setdefault(parts[6], []).append((parts[7], mapping["UUID"]))
    return found


def reachable(
    name: str,
    lambda_client: Any,
    versions: Iterable[int],
    mappings: Mapping[str, list[tuple[str, str]]] | None = None,
) -> dict[int, list[str]]:
    """Why each version of `versions` can be reached: aliases (served or weighted), provisioned
    concurrency, event source mappings (`mappings`, the account's, else listed now) and
    permissions qualified on it."""
    reasons: dict[int, list[str]] = {}

    def note(number: Any, why: str) -> None:
        if str(number).isdigit():
            reasons.setdefault(int(number), []).append(why)

    for alias in _pages(lambda_client, "list_aliases", "Aliases", FunctionName=name):
        note(alias["FunctionVersion"], f"alias {alias['Name']}")
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        for number, weight in weights.items():
            note(number, f"{weight:.0%} of alias {alias['Name']}")
    for config in _pages(lambda_client, "list_provisioned_concurrency_configs",
                         "ProvisionedConcurrencyConfigs", FunctionName=name):  # fmt: skip
        note(config["FunctionArn"].rsplit(":", 1)[1], "provisioned concurrency")
    if mappings is None:
        mappings = event_source_mappings(lambda_client)
    for number, uuid in mappings.get(name, []):
        note(number, f"event source mapping {uuid}")
    for number in versions:
        if number in reasons:
            continue
        try:
            policy = lambda_client.get_policy(FunctionName=name, Qualifier=str(number))
        except lambda_client.exceptions.ResourceNotFoundException:
            continue
        statements = json.loads(policy.get("Policy") or "{}").get("Statement") or []
        qualified = f":function:{name}:{number}"
        if any(str(s.get("Resource", "")).endswith(qualified) for s in statements):
            note(number, "a permission qualified on it")
    return reasons


def plan_function(
    name: str,
    lambda_client: Any,
    keep: int,
    protected: dict[int, str],
    mappings: Mapping[str, list[tuple[str, str]]] | None = None,
) -> tuple[Plan, set[str]]:
    """The prune plan of one function, and the layer version ARNs its kept versions use."""
    plan = Plan(name)
    try:
        configs = list(_pages(lambda_client, "list_versions_by_function", "Versions",
                              FunctionName=name))  # fmt: skip
    except lambda_client.exceptions.ResourceNotFoundException:
        plan.notes.append("no such function in this account and region (not deployed yet?)")
        return plan, set()
    numbered = {int(c["Version"]): c for c in configs if c["Version"].isdigit()}
    layers = {layer["Arn"] for c in configs if c["Version"] == "$LATEST"
              for layer in c.get("Layers", [])}  # fmt: skip
    reasons = reachable(name, lambda_client, numbered, mappings)
    for number, why in protected.items():
        reasons.setdefault(number, []).append(why)
    for number in sorted(numbered, reverse=True)[:keep]:
        reasons.setdefault(number, []).append(NEWEST.format(keep=keep))
    for number, config in numbered.items():
        if number in reasons:
            plan.keep[number] = reasons[number]
            layers |= {layer["Arn"] for layer in config.get("Layers", [])}
        else:
            plan.delete.append(number)
    missing = sorted(set(protected) - set(numbered))
    if missing:
        plan.notes.append(f"pinned or deploying version(s) {_numbers(missing)} do not exist")
    return plan, layers


def apply_plan(plan: Plan, lambda_client: Any) -> None:
    """Delete what the plan lists, after reading the aliases again; what became reachable or
    is gone is skipped and noted."""
    now = reachable(plan.name, lambda_client, [])
    for number in list(plan.delete):
        if number in now:
            plan.delete.remove(number)
            plan.keep[number] = [*now[number], "(appeared since the plan)"]
            continue
        try:
            lambda_client.delete_function(FunctionName=plan.name, Qualifier=str(number))
        except lambda_client.exceptions.ResourceNotFoundException:
            plan.delete.remove(number)
            plan.notes.append(f"version {number} was gone already")
        except lambda_client.exceptions.ResourceConflictException as error:
            plan.delete.remove(number)
            plan.notes.append(f"version {number} kept: AWS refused ({error})")


def plan_layer(name: str, lambda_client: Any, keep: int, used: set[str]) -> Plan:
    """The prune plan of one layer: versions no kept function version uses, past the newest."""
    plan = Plan(f"layer {name}")
    versions = list(_pages(lambda_client, "list_layer_versions", "LayerVersions", LayerName=name))
    newest = sorted((v["Version"] for v in versions), reverse=True)[:keep]
    for version in versions:
        number = int(version["Version"])
        reasons = []
        if version["LayerVersionArn"] in used:
            reasons.append("used by a kept function version")
        if number in newest:
            reasons.append(NEWEST.format(keep=keep))
        if reasons:
            plan.keep[number] = reasons
        else:
            plan.delete.append(number)
    return plan


def in_flight_versions(
    codedeploy: Any, application: str, groups: Iterable[str]
) -> dict[str, dict[int, str]]:
    """The current and target versions of in-flight CodeDeploy deployments, by function name
    (a deployment group is named after its function)."""
    found: dict[str, dict[int, str]] = {}
    missing = (
        codedeploy.exceptions.ApplicationDoesNotExistException,
        codedeploy.exceptions.DeploymentGroupDoesNotExistException,
    )
    for group in groups:
        try:
            ids = list(_pages(codedeploy, "list_deployments", "deployments",
                              applicationName=application, deploymentGroupName=group,
                              includeOnlyStatuses=IN_FLIGHT_DEPLOYMENTS))  # fmt: skip
        except missing:
            continue  # not deployed yet: nothing in flight
        for deployment in ids:
            info = codedeploy.get_deployment(deploymentId=deployment)["deploymentInfo"]
            properties = shift_properties(info)
            for role in ("CurrentVersion", "TargetVersion"):
                if str(properties.get(role, "")).isdigit():
                    found.setdefault(group, {})[int(properties[role])] = (
                        f"{role} of in-flight deployment {deployment}"
                    )
    return found


def prune_all(
    lambda_client: Any,
    functions: Iterable[str],
    layers: Iterable[str],
    keep: int,
    protected: Mapping[str, Mapping[int, str]],
    apply: bool,
) -> list[Plan]:
    """Plan (and with `apply` carry out) the prune of these functions, then of these layers."""
    plans, used = [], set()
    mappings = event_source_mappings(lambda_client)  # one listing of the account for the plans
    for name in functions:
        protecting = dict(protected.get(name, {}))
        plan, layer_arns = plan_function(name, lambda_client, keep, protecting, mappings)
        if apply:
            apply_plan(plan, lambda_client)
        plans.append(plan)
        used |= layer_arns
    for layer in layers:
        plan = plan_layer(layer, lambda_client, keep, used)
        if apply:
            for number in plan.delete:
                lambda_client.delete_layer_version(LayerName=layer, VersionNumber=number)
        plans.append(plan)
    return plans
