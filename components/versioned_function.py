"""One major version of a model service: its function, execution role, log group and alias."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.lifecycle import function_environment
from components.packaging import built_package, package_contents
from components.settings import Settings, VersionSettings


@dataclass(frozen=True)
class VersionedFunctionArgs:
    """Inputs of a VersionedFunction."""

    settings: Settings
    version: VersionSettings
    layer_arn: pulumi.Input[str]


class VersionedFunction(pulumi.ComponentResource):
    """A Lambda function `<prefix><service>_v<N>` that publishes a version on every change, and the
    environment's alias `<env>_v<N>` serving the newest published version, a pin, or a canary."""

    function: aws.lambda_.Function
    """The function; protected while the version is active."""
    alias: aws.lambda_.Alias
    """The environment alias the API invokes; protected while the version is active."""
    served_version: pulumi.Output[str]
    """The published version the alias serves: the pin when set, else the newest."""

    def __init__(
        self, name: str, args: VersionedFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:lambda:VersionedFunction", name, None, opts)
        settings, version = args.settings, args.version
        assert version.code is not None, "parse_settings requires code for deployed versions"
        tags = {
            "mlserve:service": version.service,
            "mlserve:api-version": version.key,
            "mlserve:lifecycle": version.status,
            "mlserve:environment": settings.environment,
        }
        child = pulumi.ResourceOptions(parent=self)
        # Only the function and the alias are protected: the engine then refuses to delete an
        # active version, while everything around them can still be replaced freely.
        protected = pulumi.ResourceOptions(parent=self, protect=version.status == "active")

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{version.function_name}",
            retention_in_days=settings.log_retention_days,
            tags=tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(_LAMBDA_TRUST_POLICY),
            description=f"Execution role of {version.function_name}",
            tags=tags,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=log_group.arn.apply(_execution_policy),
            opts=child,
        )
        environment = function_environment(settings, version)
        contents = package_contents(settings.project_root, version.code, environment)
        self.function = aws.lambda_.Function(
            name,
            name=version.function_name,
            description=version.changelog,
            role=role.arn,
            runtime=version.runtime,
            handler=version.handler,
            architectures=[version.architecture],
            memory_size=version.memory_mb,
            timeout=version.timeout_seconds,
            code=pulumi.FileArchive(str(built_package(settings.project_root, contents))),
            layers=[args.layer_arn],
            publish=True,
            environment={"variables": environment},
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "Text", "log_group": log_group.name},
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                protected, pulumi.ResourceOptions(depends_on=[log_group, role_policy])
            ),
        )
        self.served_version = (
            pulumi.Output.from_input(str(version.pin))
            if version.pin is not None
            else self.function.version
        )
        self.alias = aws.lambda_.Alias(
            f"{name}-alias",
            name=version.alias_name,
            description=f"{settings.environment} traffic of {version.service} {version.key}",
            function_name=self.function.name,
            function_version=self.served_version,
            routing_config=_routing_config(self.function.version, version),
            opts=protected,
        )
        if version.provisioned_concurrency is not None:
            aws.lambda_.ProvisionedConcurrencyConfig(
                f"{name}-concurrency",
                function_name=self.function.name,
                qualifier=self.alias.name,
                provisioned_concurrent_executions=version.provisioned_concurrency,
                opts=child,
            )
        self.register_outputs(
            {
                "functionName": self.function.name,
                "aliasArn": self.alias.arn,
                "servedVersion": self.served_version,
            }
        )


_LAMBDA_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _execution_policy(log_group_arn: str) -> str:
    """Least privilege: write to the function's own log group; X-Ray segments, which AWS grants
    only on `*` (the actions support no resource-level permissions), are the one exception."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OwnLogGroupOnly",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
                },
                {
                    "Sid": "XRayTraceWritesAwsAllowsOnlyOnStar",
                    "Effect": "Allow",
                    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                    "Resource": "*",
                },
            ],
        }
    )


def _routing_config(
    newest: pulumi.Output[str], version: VersionSettings
) -> pulumi.Output[Any] | None:
    """A canary sends its weight to the newest published version while the alias stays on the
    pin; AWS rejects a weight on the version the alias already serves, so none is set then."""
    if version.canary_weight is None or version.pin is None:
        return None
    pinned, weight = str(version.pin), version.canary_weight
    return newest.apply(
        lambda latest: (
            None if latest == pinned else {"additional_version_weights": {latest: weight}}
        )
    )
