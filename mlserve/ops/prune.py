"""`python -m mlserve prune --stack S [--keep N] [--apply]`: delete the published Lambda versions
(and dependency layer versions) of a stack that nothing can reach; a dry run unless `--apply`.

Never deleted: `$LATEST`; every version an alias of any environment serves or routes weight to;
versions with provisioned concurrency, an event source mapping or a permission qualified on them;
the current and target versions of an in-flight CodeDeploy deployment; a version any stack file
pins; and the newest N (default 5), kept as rollback pins. A layer version is kept while a kept
function version (or `$LATEST`) uses it, and the newest N are kept too. Right before deleting, the
function's aliases are read again, so an alias made meanwhile (by hand) keeps its version; a
version that is gone already is reported and skipped. Throttled calls are retried (botocore's
adaptive mode).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.settings import ConfigError, Settings
from mlserve.ops.rollout import IN_FLIGHT
from mlserve.stack_files import StackFileError, stack_files, stack_settings
from mlserve_runtime.conventions import codedeploy_application, layer_name

DEFAULT_KEEP = 5
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


def stack_functions(settings: Settings) -> list[str]:
    """The functions of the stack's deployed versions."""
    return [v.function_name for v in settings.deployed_versions()]


def pinned_versions() -> dict[str, dict[int, str]]:
    """Every version any stack file pins (also as a canary's base), by function name."""
    pins: dict[str, dict[int, str]] = {}
    for stack in stack_files():
        for version in stack_settings(stack).deployed_versions():
            if version.pin is not None:
                pins.setdefault(version.function_name, {})[int(version.pin)] = (
                    f"pinned by stack {stack} ({version.alias_name})"
                )
    return pins


def in_flight_versions(settings: Settings, codedeploy: Any) -> dict[str, dict[int, str]]:
    """The current and target versions of the stack's in-flight CodeDeploy deployments."""
    found: dict[str, dict[int, str]] = {}
    application = codedeploy_application(settings.name_prefix, settings.environment)
    for version in settings.deployed_versions():
        if version.rollout is None:
            continue
        ids = codedeploy.list_deployments(
            applicationName=application, deploymentGroupName=version.function_name,
            includeOnlyStatuses=IN_FLIGHT,
        ).get("deployments", [])  # fmt: skip
        for deployment in ids:
            info = codedeploy.get_deployment(deploymentId=deployment)["deploymentInfo"]
            content = ((info.get("revision") or {}).get("appSpecContent") or {}).get("content")
            if not content:
                continue
            resource = json.loads(content)["Resources"][0]
            properties = next(iter(resource.values()))["Properties"]
            for role in ("CurrentVersion", "TargetVersion"):
                if str(properties.get(role, "")).isdigit():
                    found.setdefault(version.function_name, {})[int(properties[role])] = (
                        f"{role} of in-flight deployment {deployment}"
                    )
    return found


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


def reachable(name: str, lambda_client: Any, versions: Iterable[int]) -> dict[int, list[str]]:
    """Why each version of `versions` can be reached: aliases (served or weighted), provisioned
    concurrency, event source mappings and permissions qualified on it."""
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
    for number, uuid in event_source_mappings(lambda_client).get(name, []):
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
    name: str, lambda_client: Any, keep: int, protected: dict[int, str]
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
    reasons = reachable(name, lambda_client, numbered)
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


def prune(
    settings: Settings, lambda_client: Any, codedeploy: Any | None, keep: int, apply: bool
) -> list[Plan]:
    """Plan (and with `apply` carry out) the prune of a stack's functions and layers."""
    pins = pinned_versions()
    flying = in_flight_versions(settings, codedeploy) if codedeploy is not None else {}
    plans, used = [], set()
    for name in stack_functions(settings):
        protected = {**pins.get(name, {}), **flying.get(name, {})}
        plan, layers = plan_function(name, lambda_client, keep, protected)
        if apply:
            apply_plan(plan, lambda_client)
        plans.append(plan)
        used |= layers
    platforms = sorted({(v.runtime, v.architecture) for v in settings.deployed_versions()})
    for runtime, architecture in platforms:
        plan = plan_layer(layer_name(settings.name_prefix, runtime, architecture),
                          lambda_client, keep, used)  # fmt: skip
        if apply:
            for number in plan.delete:
                lambda_client.delete_layer_version(LayerName=plan.name.split(" ", 1)[1],
                                                   VersionNumber=number)  # fmt: skip
        plans.append(plan)
    return plans


def _keep(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: keep at least the newest 1 version (a whole number >= 1)"
        )
    return int(text)


def main(argv: Sequence[str]) -> int:
    """Print (and with --apply carry out) the stack's prune."""
    parser = argparse.ArgumentParser(
        prog="mlserve prune", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--stack", required=True, help="the stack, e.g. prod")
    parser.add_argument("--keep", type=_keep, default=DEFAULT_KEEP, metavar="N",
                        help=f"newest versions always kept (default {DEFAULT_KEEP})")  # fmt: skip
    parser.add_argument("--apply", action="store_true", help="delete (default: a dry run)")
    args = parser.parse_args(list(argv))
    import boto3  # only commands that talk to AWS need it
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        settings = stack_settings(args.stack)
        retries = Config(retries={"mode": "adaptive", "max_attempts": 10})
        lambda_client = boto3.client("lambda", region_name=settings.region, config=retries)
        codedeploy = (
            boto3.client("codedeploy", region_name=settings.region, config=retries)
            if any(v.rollout for v in settings.deployed_versions())
            else None
        )
        plans = prune(settings, lambda_client, codedeploy, args.keep, args.apply)
    except (ConfigError, StackFileError) as error:
        print(f"mlserve prune: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"mlserve prune: AWS refused: {error}; nothing more was deleted. Check the "
              "credentials, region and permissions (lambda:List*, lambda:GetPolicy, "
              "lambda:DeleteFunction, lambda:DeleteLayerVersion)", file=sys.stderr)  # fmt: skip
        return 1
    for plan in plans:
        print("\n".join(plan.lines(args.apply)))
    if not args.apply:
        print("dry run: nothing deleted; run again with --apply to delete")
    return 0
