"""Alarm-gated rollout of new Lambda versions through CodeDeploy, for the versions that set
`rollout`: one CodeDeploy application and pre-traffic hook per stack; per version a deployment
group with its config, automatic rollback and alarms on the new version's metrics, and the
command that starts a deployment whenever the function publishes a new version.

Who moves the alias: CodeDeploy. The alias is created on the function's newest version and the
engine then ignores its `function_version` and `routing_config` (VersionedFunction), so the two
never fight. A deployment starts from `pulumi_command`'s local.Command, replaced whenever the
function's newest version changes: its `create` runs `python -m mlserve rollout start`, which
reads the alias back from AWS, does nothing when it already serves the target (the first
deployment, or a re-run), refuses while the alias carries weights, and returns once CodeDeploy
accepted the deployment, without waiting for it (`mlserve rollout status` follows it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.packaging import built_package, package_files
from components.platform_functions import XRAY_STATEMENT, logs_and_role, service_trust
from components.settings import Rollout, Settings, VersionSettings
from components.versioned_function import VersionedFunction
from mlserve_runtime.conventions import (
    HOOK_CHECKS_FILE,
    codedeploy_application,
    hook_function_name,
)

HOOK_CODE = Path("services/rollout_hook")
HOOK_HANDLER = "hook.handler"
HOOK_TIMEOUT_SECONDS = 300  # CodeDeploy waits an hour for the report; the checks take seconds
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
START_COMMAND = ".venv/bin/python -m mlserve rollout start"  # the project's venv (Pulumi.yaml)


@dataclass(frozen=True)
class StackRolloutArgs:
    """Inputs of a StackRollout."""

    settings: Settings
    functions: dict[tuple[str, str], VersionedFunction]
    """The deployed versions' components by (service, version)."""
    layer_arns: dict[tuple[str, str], pulumi.Output[str]]


class StackRollout(pulumi.ComponentResource):
    """CodeDeploy for every rolled-out version of the stack."""

    application_name: str
    """The CodeDeploy application, e.g. `mlserve-prod`."""
    groups: dict[tuple[str, str], aws.codedeploy.DeploymentGroup]
    """The deployment group of each rolled-out version."""

    def __init__(
        self, name: str, args: StackRolloutArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:rollout:StackRollout", name, None, opts)
        settings = args.settings
        rolled = [v for v in settings.deployed_versions() if v.rollout is not None]
        child = pulumi.ResourceOptions(parent=self)
        self.application_name = codedeploy_application(settings.name_prefix, settings.environment)
        application = aws.codedeploy.Application(
            f"{name}-app", name=self.application_name, compute_platform="Lambda", opts=child
        )
        functions = {(v.service, v.key): args.functions[(v.service, v.key)] for v in rolled}
        service_role = aws.iam.Role(
            f"{name}-codedeploy-role",
            assume_role_policy=json.dumps(service_trust("codedeploy.amazonaws.com")),
            description=f"CodeDeploy's role for the rollouts of {self.application_name}",
            opts=child,
        )
        configs: dict[str, str | pulumi.Output[str]] = {}
        alarms: dict[tuple[str, str], list[aws.cloudwatch.MetricAlarm]] = {}
        self.groups = {}
        for version in rolled:
            rollout = version.rollout
            assert rollout is not None
            key = (version.service, version.key)
            config = _config_name(self.application_name, rollout)
            if config not in configs:
                configs[config] = self._config(name, config, rollout, child)
            alarms[key] = _alarms(version, rollout, functions[key], child)
            self.groups[key] = aws.codedeploy.DeploymentGroup(
                f"{version.logical_name}-deployment-group",
                app_name=application.name,
                deployment_group_name=version.function_name,
                service_role_arn=service_role.arn,
                deployment_config_name=configs[config],
                deployment_style={
                    "deployment_option": "WITH_TRAFFIC_CONTROL",
                    "deployment_type": "BLUE_GREEN",  # the provider's default is IN_PLACE
                },
                auto_rollback_configuration={"enabled": True, "events": ROLLBACK_EVENTS},
                alarm_configuration={"enabled": True, "alarms": [a.name for a in alarms[key]]},
                opts=child,
            )
        hook = self._hook(name, settings, rolled, functions, args.layer_arns, child)
        codedeploy_policy = aws.iam.RolePolicy(
            f"{name}-codedeploy-policy",
            role=service_role.id,
            policy=pulumi.Output.all([f.alias.arn for f in functions.values()], hook.arn).apply(
                lambda values: _codedeploy_policy(values[0], values[1])
            ),
            opts=child,
        )
        for version in rolled:
            key = (version.service, version.key)
            deployed = functions[key]
            command.local.Command(
                f"{version.logical_name}-rollout-start",
                create=pulumi.Output.concat(
                    START_COMMAND,
                    " --stack ",
                    settings.stack,
                    " ",
                    version.service,
                    " ",
                    version.key,
                    " --target ",
                    deployed.function.version,
                ),
                triggers=[deployed.function.version],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[
                        self.groups[key],
                        hook,
                        codedeploy_policy,
                        deployed.alias,
                        *alarms[key],
                    ],
                ),
            )
        self.register_outputs({"application": self.application_name})

    def _hook(
        self,
        name: str,
        settings: Settings,
        rolled: list[VersionSettings],
        functions: dict[tuple[str, str], VersionedFunction],
        layer_arns: dict[tuple[str, str], pulumi.Output[str]],
        child: pulumi.ResourceOptions,
    ) -> aws.lambda_.Function:
        """The pre-traffic contract check, allowed to invoke only the rolled-out functions'
        versions and to report only on this application's deployment groups."""
        hook_name = hook_function_name(settings.name_prefix, settings.environment)
        log_group, role = logs_and_role(f"{name}-hook", hook_name, settings, child)
        policy = aws.iam.RolePolicy(
            f"{name}-hook-policy",
            role=role.id,
            policy=pulumi.Output.all(
                [f.function.arn for f in functions.values()],
                [group.arn for group in self.groups.values()],
                log_group.arn,
            ).apply(lambda values: _hook_policy(*values)),
            opts=child,
        )
        package = hook_package(settings, rolled)
        assert settings.hook_platform is not None, "a hook only with rollouts"
        runtime, architecture = settings.hook_platform
        return aws.lambda_.Function(
            f"{name}-hook",
            name=hook_name,
            description="Pre-traffic contract check of mlserve rollouts",
            role=role.arn,
            runtime=runtime,
            architectures=[architecture],
            handler=HOOK_HANDLER,
            timeout=HOOK_TIMEOUT_SECONDS,
            memory_size=256,
            tracing_config={"mode": "Active"},
            code=pulumi.FileArchive(str(package)),
            layers=[layer_arns[(runtime, architecture)]],
            logging_config={"log_format": "Text", "log_group": log_group.name},
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[log_group, policy])
            ),
        )

    def _config(
        self, name: str, config: str, rollout: Rollout, child: pulumi.ResourceOptions
    ) -> str | pulumi.Output[str]:
        """A predefined CodeDeploy config's name, or a custom config for this rollout."""
        if rollout.predefined_config is not None:
            return rollout.predefined_config
        shape = {"interval": rollout.minutes, "percentage": rollout.percent}
        routing: Any = (
            {"type": "TimeBasedCanary", "time_based_canary": shape}
            if rollout.strategy == "canary"
            else {"type": "TimeBasedLinear", "time_based_linear": shape}
        )
        custom = aws.codedeploy.DeploymentConfig(
            f"{name}-{config}",
            deployment_config_name=config,
            compute_platform="Lambda",
            traffic_routing_config=routing,
            opts=child,
        )
        configured: pulumi.Output[str] = custom.deployment_config_name
        return configured


def hook_package(settings: Settings, rolled: list[VersionSettings]) -> Path:
    """The hook's zip: the runtime and, per rolled-out function, what to send and to expect."""
    checks = {version.function_name: version.contract_checks for version in rolled}
    data = json.dumps(checks, indent=2, sort_keys=True).encode()
    folder = settings.project_root / "build" / "rollout" / hashlib.sha256(data).hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / HOOK_CHECKS_FILE).write_bytes(data)
    files = package_files(settings.project_root, settings.project_root / HOOK_CODE)
    files[HOOK_CHECKS_FILE] = folder / HOOK_CHECKS_FILE
    assert settings.hook_platform is not None, "a hook only with rollouts"
    return built_package(
        settings.project_root, dict(sorted(files.items())), settings.hook_platform[0]
    )


def _config_name(application: str, rollout: Rollout) -> str:
    """The config's name: the predefined one, else one naming its shape."""
    predefined = rollout.predefined_config
    if predefined is not None:
        return predefined
    every = "every" if rollout.strategy == "linear" else "then-all-after"
    return f"{application}-{rollout.strategy}-{rollout.percent}pct-{every}-{rollout.minutes}min"


def _alarms(
    version: VersionSettings,
    rollout: Rollout,
    deployed: VersionedFunction,
    child: pulumi.ResourceOptions,
) -> list[aws.cloudwatch.MetricAlarm]:
    """Errors and p99 latency of the new version (ExecutedVersion: the deployment's target, the
    newest published version), and throttles of the alias (throttled calls run no version)."""
    resource = f"{version.function_name}:{version.alias_name}"
    executed: Any = {
        "FunctionName": version.function_name,
        "Resource": resource,
        "ExecutedVersion": deployed.function.version,
    }
    alarms = rollout.alarms

    def metric(name: str, stat: str) -> Any:
        return {"metric_name": name, "namespace": "AWS/Lambda", "period": 60, "stat": stat,
                "dimensions": executed}  # fmt: skip

    common: dict[str, Any] = {"evaluation_periods": 1, "treat_missing_data": "notBreaching"}
    return [
        aws.cloudwatch.MetricAlarm(
            f"{version.logical_name}-rollout-errors",
            name=f"{resource}-rollout-error-rate",
            alarm_description=f"Errors per invocation of the new version of {resource}",
            comparison_operator="GreaterThanThreshold",
            threshold=alarms.error_rate,
            metric_queries=[
                {"id": "errors", "metric": metric("Errors", "Sum"), "return_data": False},
                {"id": "invocations", "metric": metric("Invocations", "Sum"), "return_data": False},
                {
                    "id": "rate",
                    "expression": "errors / invocations",
                    "label": "error rate",
                    "return_data": True,
                },
            ],
            opts=child,
            **common,
        ),
        aws.cloudwatch.MetricAlarm(
            f"{version.logical_name}-rollout-latency",
            name=f"{resource}-rollout-p99-latency",
            alarm_description=f"p99 duration (ms) of the new version of {resource}",
            comparison_operator="GreaterThanThreshold",
            threshold=alarms.p99_latency_ms,
            metric_name="Duration",
            namespace="AWS/Lambda",
            period=60,
            extended_statistic="p99",
            dimensions=executed,
            opts=child,
            **common,
        ),
        aws.cloudwatch.MetricAlarm(
            f"{version.logical_name}-rollout-throttles",
            name=f"{resource}-rollout-throttles",
            alarm_description=f"Throttled calls of {resource}",
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=alarms.throttles,
            metric_name="Throttles",
            namespace="AWS/Lambda",
            period=60,
            statistic="Sum",
            dimensions={"FunctionName": version.function_name, "Resource": resource},
            opts=child,
            **common,
        ),
    ]


def _codedeploy_policy(alias_arns: list[str], hook_arn: str) -> str:
    """Narrower than AWSCodeDeployRoleForLambda (which may update any alias): read alarms, move
    this stack's rolled-out aliases, and invoke this stack's hook."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AlarmsHaveNoResourceLevelPermissions",
                    "Effect": "Allow",
                    "Action": "cloudwatch:DescribeAlarms",
                    "Resource": "*",
                },
                {
                    "Sid": "ShiftOwnAliases",
                    "Effect": "Allow",
                    "Action": [
                        "lambda:GetAlias",
                        "lambda:UpdateAlias",
                        "lambda:GetProvisionedConcurrencyConfig",
                    ],
                    "Resource": sorted(alias_arns),
                },
                {
                    "Sid": "RunOwnHook",
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": hook_arn,
                },
            ],
        }
    )


def _hook_policy(function_arns: list[str], group_arns: list[str], log_group_arn: str) -> str:
    """Invoke the rolled-out functions' versions, read and report on this application's
    deployments, write its own logs."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                XRAY_STATEMENT,
                {
                    "Sid": "InvokeRolledOutVersions",
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": sorted(f"{arn}:*" for arn in function_arns),
                },
                {
                    "Sid": "ReportOnOwnDeployments",
                    "Effect": "Allow",
                    "Action": [
                        "codedeploy:GetDeployment",
                        "codedeploy:PutLifecycleEventHookExecutionStatus",
                    ],
                    "Resource": sorted(group_arns),
                },
                {
                    "Sid": "OwnLogGroupOnly",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
                },
            ],
        }
    )
