"""`python -m mlserve rollout start|status|stop --stack S [SERVICE vN]`: CodeDeploy deployments of
the versions that set `rollout`.

`start` is what `pulumi up` runs (through the rollout's local.Command) whenever a rolled-out
function publishes a new version: it reads the alias back from AWS, does nothing when the alias
already serves the target (a first deployment, or a re-run), refuses while the alias carries
routing weights or a deployment of the group is in flight, and otherwise creates a deployment
from the alias's current version to the target, then returns without waiting. `status` lists
each rolled-out version's latest deployment; `stop` stops the in-flight one and rolls it back.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.settings import ConfigError, Settings, VersionSettings
from mlserve.stack_files import StackFileError, stack_settings
from mlserve_runtime.conventions import (
    IN_FLIGHT_DEPLOYMENTS,
    codedeploy_application,
    hook_function_name,
    shift_properties,
)


class RolloutError(Exception):
    """A rollout command that cannot proceed; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """One rolled-out version of a stack, as CodeDeploy and Lambda name it."""

    version: VersionSettings
    application: str

    @property
    def group(self) -> str:
        return self.version.function_name


def targets(settings: Settings, service: str | None, key: str | None) -> list[Target]:
    """The stack's rolled-out versions, or the one named."""
    application = codedeploy_application(settings.name_prefix, settings.environment)
    found = [
        Target(v, application)
        for v in settings.deployed_versions()
        if v.rollout is not None and (service is None or (v.service, v.key) == (service, key))
    ]
    if service is not None and not found:
        raise RolloutError(
            f"{service} {key} does not roll out in stack {settings.stack}; set "
            f"mlserve:services.{service}.versions.{key}.rollout (or the service's)"
        )
    return found


def appspec(target: Target, current: str, version: str) -> dict[str, Any]:
    """The AppSpec of a Lambda deployment from `current` to `version`, with the contract check
    before any traffic moves."""
    settings = target.version.owner.stack
    return {
        "version": "0.0",
        "Resources": [
            {
                target.version.logical_name: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": target.version.function_name,
                        "Alias": target.version.alias_name,
                        "CurrentVersion": current,
                        "TargetVersion": version,
                    },
                }
            }
        ],
        "Hooks": [
            {"BeforeAllowTraffic": hook_function_name(settings.name_prefix, settings.environment)}
        ],
    }


def start(target: Target, version: str, lambda_client: Any, codedeploy: Any) -> str | None:
    """Start the deployment to `version`; None when there is nothing to shift."""
    alias = lambda_client.get_alias(
        FunctionName=target.version.function_name, Name=target.version.alias_name
    )
    current = str(alias["FunctionVersion"])
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if weights:
        raise RolloutError(
            f"alias {target.version.alias_name} of {target.version.function_name} already "
            f"routes {weights} besides version {current}: a deployment is shifting it, or it was "
            "weighted by hand. Wait for it (`mlserve rollout status`) or stop it "
            "(`mlserve rollout stop`), then run `pulumi up` again"
        )
    if current == version:
        return None
    flying = codedeploy.list_deployments(
        applicationName=target.application,
        deploymentGroupName=target.group,
        includeOnlyStatuses=IN_FLIGHT_DEPLOYMENTS,
    ).get("deployments", [])
    if flying:
        raise RolloutError(
            f"deployment {flying[0]} of {target.group} is still in flight; CodeDeploy runs one "
            "per group. Wait for it or stop it, then run `pulumi up` again"
        )
    created = codedeploy.create_deployment(
        applicationName=target.application,
        deploymentGroupName=target.group,
        revision={
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": json.dumps(appspec(target, current, version))},
        },
        description=f"{target.version.service} {target.version.key}: {current} -> {version}",
    )
    return str(created["deploymentId"])


def latest(target: Target, codedeploy: Any) -> dict[str, Any] | None:
    """The newest deployment of a version's group, with its AppSpec's versions."""
    ids = codedeploy.list_deployments(
        applicationName=target.application, deploymentGroupName=target.group
    ).get("deployments", [])
    if not ids:
        return None
    infos = [codedeploy.get_deployment(deploymentId=i)["deploymentInfo"] for i in ids]
    newest = max(infos, key=lambda info: info.get("createTime") or 0)
    properties = shift_properties(newest)
    return {
        "id": newest["deploymentId"],
        "status": newest.get("status"),
        "from": properties.get("CurrentVersion"),
        "to": properties.get("TargetVersion"),
    }


def stop(target: Target, codedeploy: Any) -> list[str]:
    """Stop the group's in-flight deployments, rolling back; their ids."""
    flying = codedeploy.list_deployments(
        applicationName=target.application,
        deploymentGroupName=target.group,
        includeOnlyStatuses=IN_FLIGHT_DEPLOYMENTS,
    ).get("deployments", [])
    for deployment in flying:
        codedeploy.stop_deployment(deploymentId=deployment, autoRollbackEnabled=True)
    return list(flying)


def main(argv: Sequence[str]) -> int:
    """The rollout commands."""
    parser = argparse.ArgumentParser(
        prog="mlserve rollout", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("start", "start the deployment of a version to --target (what pulumi up runs)"),
        ("status", "each rolled-out version's latest deployment"),
        ("stop", "stop a version's in-flight deployment and roll it back"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--stack", required=True, help="the stack, e.g. prod")
        needs = name != "status"
        sub.add_argument("service", nargs=None if needs else "?", help="the service key")
        sub.add_argument("version", nargs=None if needs else "?", help="the major, e.g. v2")
        if name == "start":
            sub.add_argument("--target", required=True, help="the Lambda version to shift to")
    args = parser.parse_args(list(argv))
    try:
        settings = stack_settings(args.stack)
        chosen = targets(settings, args.service, args.version)
        return _run(args, settings, chosen)
    except (ConfigError, StackFileError, RolloutError) as error:
        print(f"mlserve rollout {args.command}: {error}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, settings: Settings, chosen: list[Target]) -> int:
    import boto3  # only the commands that talk to AWS need it

    codedeploy = boto3.client("codedeploy", region_name=settings.region)
    if args.command == "start":
        lambda_client = boto3.client("lambda", region_name=settings.region)
        (target,) = chosen
        deployment = start(target, args.target, lambda_client, codedeploy)
        name = f"{target.version.service} {target.version.key}"
        if deployment is None:
            print(f"{name}: alias already serves version {args.target}; nothing to shift")
        else:
            print(f"{name}: deployment {deployment} started to version {args.target} "
                  f"({target.version.rollout and target.version.rollout.strategy}); follow it "
                  f"with `mlserve rollout status --stack {settings.stack}`")  # fmt: skip
        return 0
    if args.command == "stop":
        (target,) = chosen
        stopped = stop(target, codedeploy)
        print(f"stopped and rolled back: {', '.join(stopped)}" if stopped else "none in flight")
        return 0
    for target in chosen:
        found = latest(target, codedeploy)
        shown = "no deployment yet" if found is None else (
            f"{found['id']} {found['status']}: {found['from']} -> {found['to']}"
        )  # fmt: skip
        print(f"{target.version.service} {target.version.key} ({target.group}): {shown}")
    return 0
