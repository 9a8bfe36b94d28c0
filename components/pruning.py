"""Scheduled pruning (`mlserve:pruning: {keep, schedule}`): a janitor function that runs the same
prune as `python -m mlserve prune --apply` (mlserve_runtime.prune) on an EventBridge Scheduler
schedule, with a role that may list and delete only this stack's function versions and layer
versions, and read only this stack's CodeDeploy deployments.

The janitor knows the versions this stack's config pins (written into its package at deploy
time); a version another stack file pins is an alias of that stack once it is deployed, which
the janitor sees. `python -m mlserve prune` also reads every stack file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.packaging import built_package, package_files
from components.platform_functions import XRAY_STATEMENT, logs_and_role, service_trust
from components.settings import DEFAULT_RUNTIME, Settings
from components.versioned_function import VersionedFunction
from mlserve_runtime.conventions import (
    JANITOR_PLAN_FILE,
    codedeploy_application,
    janitor_function_name,
    layer_name,
)

JANITOR_CODE = Path("services/prune_janitor")
JANITOR_HANDLER = "janitor.handler"
JANITOR_RUNTIME, JANITOR_ARCHITECTURE = DEFAULT_RUNTIME, "arm64"
JANITOR_TIMEOUT_SECONDS = 900  # many functions with many versions; Lambda's maximum


@dataclass(frozen=True)
class StackPruningArgs:
    """Inputs of a StackPruning."""

    settings: Settings
    functions: dict[tuple[str, str], VersionedFunction]
    layer_arns: dict[tuple[str, str], pulumi.Output[str]]
    deployment_groups: list[pulumi.Output[str]] = field(default_factory=list)
    """ARNs of the stack's CodeDeploy deployment groups (rolled-out versions)."""


def janitor_plan(settings: Settings) -> dict[str, Any]:
    """What the janitor prunes and keeps (its package's prune_plan.json)."""
    assert settings.pruning is not None
    deployed = settings.deployed_versions()
    return {
        "functions": [v.function_name for v in deployed],
        "layers": [layer_name(settings.name_prefix, *p) for p in settings.layer_platforms],
        "keep": settings.pruning.keep,
        "pinned": {
            v.function_name: {str(v.pin): f"pinned by stack {settings.stack}"}
            for v in deployed
            if v.pin is not None
        },
        "application": codedeploy_application(settings.name_prefix, settings.environment),
        "groups": [v.function_name for v in deployed if v.rollout is not None],
    }


def janitor_package(settings: Settings) -> Path:
    """The janitor's zip: its module, the runtime (prune's rules) and its plan."""
    data = json.dumps(janitor_plan(settings), indent=2, sort_keys=True).encode()
    folder = settings.project_root / "build" / "pruning" / hashlib.sha256(data).hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / JANITOR_PLAN_FILE).write_bytes(data)
    files = package_files(settings.project_root, settings.project_root / JANITOR_CODE)
    files[JANITOR_PLAN_FILE] = folder / JANITOR_PLAN_FILE
    return built_package(settings.project_root, dict(sorted(files.items())), JANITOR_RUNTIME)


class StackPruning(pulumi.ComponentResource):
    """The janitor, its scoped role and its schedule."""

    janitor: aws.lambda_.Function
    schedule: aws.scheduler.Schedule

    def __init__(
        self, name: str, args: StackPruningArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:pruning:StackPruning", name, None, opts)
        settings = args.settings
        assert settings.pruning is not None
        child = pulumi.ResourceOptions(parent=self)
        janitor_name = janitor_function_name(settings.name_prefix, settings.environment)
        tags = {"mlserve:environment": settings.environment}
        log_group, role = logs_and_role(f"{name}-janitor", janitor_name, settings, child)
        policy = aws.iam.RolePolicy(
            f"{name}-janitor-policy",
            role=role.id,
            policy=pulumi.Output.all(
                [f.function.arn for f in args.functions.values()],
                list(args.layer_arns.values()),
                args.deployment_groups,
                log_group.arn,
            ).apply(lambda values: janitor_policy(*values)),
            opts=child,
        )
        self.janitor = aws.lambda_.Function(
            f"{name}-janitor",
            name=janitor_name,
            description=f"Prunes unreachable versions of {settings.api.name} (mlserve prune)",
            role=role.arn,
            runtime=JANITOR_RUNTIME,
            architectures=[JANITOR_ARCHITECTURE],
            handler=JANITOR_HANDLER,
            timeout=JANITOR_TIMEOUT_SECONDS,
            memory_size=256,
            tracing_config={"mode": "Active"},
            code=pulumi.FileArchive(str(janitor_package(settings))),
            logging_config={"log_format": "Text", "log_group": log_group.name},
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[log_group, policy])
            ),
        )
        scheduler_role = aws.iam.Role(
            f"{name}-schedule-role",
            assume_role_policy=json.dumps(service_trust("scheduler.amazonaws.com")),
            description=f"EventBridge Scheduler's role to invoke {janitor_name}",
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-schedule-policy",
            role=scheduler_role.id,
            policy=self.janitor.arn.apply(_invoke_policy),
            opts=child,
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            name=janitor_name,
            description=f"mlserve prune --apply --keep {settings.pruning.keep}",
            schedule_expression=settings.pruning.schedule,
            flexible_time_window={"mode": "OFF"},
            target={"arn": self.janitor.arn, "role_arn": scheduler_role.arn},
            opts=child,
        )
        self.register_outputs({})


def janitor_policy(
    function_arns: list[str], layer_arns: list[str], group_arns: list[str], log_group_arn: str
) -> str:
    """List and delete versions of this stack's functions and layers only; read its deployments."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "PruneOwnFunctionVersions",
            "Effect": "Allow",
            "Action": [
                "lambda:ListVersionsByFunction",
                "lambda:ListAliases",
                "lambda:ListProvisionedConcurrencyConfigs",
                "lambda:GetPolicy",
                "lambda:DeleteFunction",
            ],
            # one pattern per service (`...:function:<prefix><service>_v*`, versions included):
            # listing every function would pass IAM's 10,240 characters of inline policy
            "Resource": sorted({re.sub(r"_v\d+$", "_v*", arn) for arn in function_arns}),
        },
        XRAY_STATEMENT,
        {
            # AWS offers these listings on no narrower resource
            "Sid": "ListMappingsAndLayerVersions",
            "Effect": "Allow",
            "Action": ["lambda:ListEventSourceMappings", "lambda:ListLayerVersions"],
            "Resource": "*",
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        },
    ]
    if layer_arns:
        statements.append(
            {
                "Sid": "PruneOwnLayerVersions",
                "Effect": "Allow",
                "Action": "lambda:DeleteLayerVersion",
                "Resource": sorted({f"{arn.rsplit(':', 1)[0]}:*" for arn in layer_arns}),
            }
        )
    if group_arns:
        statements.append(
            {
                "Sid": "ReadOwnDeployments",
                "Effect": "Allow",
                "Action": ["codedeploy:ListDeployments", "codedeploy:GetDeployment"],
                "Resource": sorted(group_arns),
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _invoke_policy(janitor_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": janitor_arn}
            ],
        }
    )
