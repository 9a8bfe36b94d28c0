"""One major version of a model service: its function, execution role, log group and alias."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.packaging import built_package, code_sha256, layer_lock_digest, package_files
from components.platform_functions import XRAY_STATEMENT, logs_and_role
from components.queues import VersionQueues, VersionQueuesArgs
from components.settings import Settings, VersionSettings, key_path
from mlserve_runtime.conventions import RESULTS_QUEUE_ACTIONS, WORK_QUEUE_ACTIONS


@dataclass(frozen=True)
class VersionedFunctionArgs:
    """Inputs of a VersionedFunction."""

    settings: Settings
    version: VersionSettings
    layer_arn: pulumi.Input[str] | None
    """The dependency layer of a zip version; None for an image version."""
    needs: list[pulumi.Resource] = field(default_factory=list)
    """What must exist before the function is created (an image's repository policy)."""


class VersionedFunction(pulumi.ComponentResource):
    """A Lambda function `<prefix><service>_v<N>` that publishes a version on every change, and the
    environment's alias `<env>_v<N>` serving the newest published version, a pin, or a canary."""

    function: aws.lambda_.Function
    """The function; protected while the version is active."""
    alias: aws.lambda_.Alias
    """The environment alias the API invokes; protected while the version is active."""
    served_version: pulumi.Output[str]
    """The published version the alias serves, as the alias reports it."""
    code_sha256: str
    """The package's CodeSha256 (base64 of its SHA-256), as Lambda will report it."""
    revision: str
    """A digest of everything whose change makes the provider publish a new Lambda version."""
    queues: VersionQueues | None
    """The version's batch queues, with `queue` in the config."""
    queue_mapping: aws.lambda_.EventSourceMapping | None
    """The mapping that feeds the work queue to the alias, with `queue` in the config."""

    def __init__(
        self, name: str, args: VersionedFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:lambda:VersionedFunction", name, None, opts)
        settings, version = args.settings, args.version
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

        log_group, role = logs_and_role(name, version.function_name, settings, child, tags)
        self.queues = (
            VersionQueues(f"{name}-queues", VersionQueuesArgs(settings, version, tags), opts=child)
            if version.queue is not None
            else None
        )
        queues = self.queues
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=(
                pulumi.Output.all(log_group.arn, queues.work.arn, queues.results.arn).apply(
                    lambda arns: _execution_policy(*arns)
                )
                if queues is not None
                else log_group.arn.apply(_execution_policy)
            ),
            opts=child,
        )
        environment: Any = version.variables
        if queues is not None:
            environment = queues.results.url.apply(
                lambda url: {**version.variables, **version.queue_variables(url)}
            )
        if settings.environment_is_secret:
            environment = pulumi.Output.secret(environment)
        self.code_sha256 = version_code_sha256(settings, version)
        self.revision = function_revision(settings, version, self.code_sha256)
        deployment: dict[str, Any] = (
            # an image holds its runtime and handler (its CMD) and its dependencies: no layer
            {"package_type": "Image", "image_uri": version.image}
            if version.image is not None
            else {
                "runtime": version.runtime,
                "handler": version.handler,
                "code": pulumi.FileArchive(str(version_package(settings, version))),
                "layers": [args.layer_arn],
            }
        )
        self.function = aws.lambda_.Function(
            name,
            name=version.function_name,
            description=version.changelog,
            role=role.arn,
            architectures=[version.architecture],
            memory_size=version.memory_mb,
            timeout=version.timeout_seconds,
            **deployment,
            publish=True,
            environment={"variables": environment},
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "Text", "log_group": log_group.name},
            tags=tags,
            opts=pulumi.ResourceOptions.merge(
                protected,
                pulumi.ResourceOptions(depends_on=[log_group, role_policy, *args.needs]),
            ),
        )
        alias_options = protected
        if version.pin is not None:
            # The alias waits for the function's newest version and is never registered with a
            # pin that was not published (CreateAlias would fail after other changes landed);
            # the pin itself stays a known input, so a preview shows it unchanged.
            published = self.function.version.apply(
                functools.partial(_published_pin, function=self.function, version=version)
            )
            alias_options = pulumi.ResourceOptions.merge(
                protected, pulumi.ResourceOptions(depends_on=[published])
            )
        if version.rollout is not None:
            # CodeDeploy moves this alias (components/rollout.py); the engine creates it on the
            # newest version and then leaves what CodeDeploy owns alone.
            alias_options = pulumi.ResourceOptions.merge(
                alias_options,
                pulumi.ResourceOptions(ignore_changes=list(ROLLOUT_OWNED_ALIAS_PROPERTIES)),
            )
        self.alias = aws.lambda_.Alias(
            f"{name}-alias",
            name=version.alias_name,
            description=f"{settings.environment} traffic of {version.service} {version.key}",
            function_name=self.function.name,
            function_version=(
                str(version.pin) if version.pin is not None else self.function.version
            ),
            routing_config=_routing_config(self.function.version, version),
            opts=alias_options,
        )
        self.served_version = self.alias.function_version
        self.queue_mapping = None
        if queues is not None and version.queue is not None:
            # On the alias, never the function: messages of v2 reach only what prod_v2 serves
            # (and its provisioned concurrency). Lambda checks the role's SQS permissions when
            # it creates the mapping, so the role policy comes first.
            self.queue_mapping = aws.lambda_.EventSourceMapping(
                f"{name}-queue-mapping",
                event_source_arn=queues.work.arn,
                function_name=self.alias.arn,
                batch_size=version.queue.batch_size,
                maximum_batching_window_in_seconds=version.queue.batch_window_seconds,
                function_response_types=["ReportBatchItemFailures"],
                scaling_config={"maximum_concurrency": version.queue.max_concurrency},
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.alias, role_policy]),
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


ROLLOUT_OWNED_ALIAS_PROPERTIES = ("functionVersion", "routingConfig")
"""What CodeDeploy sets on a rolled-out version's alias (the engine's property names)."""


def version_package(settings: Settings, version: VersionSettings) -> Path:
    """The built zip of a deployed zip version's code (the same bytes for every stack)."""
    assert version.code is not None, "parse_settings requires code for deployed zip versions"
    files = package_files(settings.project_root, version.code)
    return built_package(settings.project_root, files, version.runtime)


def version_code_sha256(settings: Settings, version: VersionSettings) -> str:
    """What Lambda will report as the version's CodeSha256: the zip's base64 SHA-256, or for an
    image version the image's digest (hex)."""
    if version.image_digest is not None:
        return version.image_digest
    return code_sha256(version_package(settings, version))


def function_revision(settings: Settings, version: VersionSettings, code_hash: str) -> str:
    """A digest of what the provider compares to decide whether to publish a new version: the
    code and the configuration (terraform-provider-aws publishes on either). Secret environment
    values are left out, so the digest, a stack output, never depends on them."""
    environment = version.variables
    published = {
        "code": code_hash,
        "description": version.changelog,
        "runtime": None if version.image else version.runtime,
        "handler": None if version.image else version.handler,
        "architecture": version.architecture,
        "memory": version.memory_mb,
        "timeout": version.timeout_seconds,
        "layer": None
        if version.image
        else layer_lock_digest(settings.project_root, version.runtime, version.architecture),
        "environment": sorted(environment)
        if settings.environment_is_secret
        else sorted(environment.items()),
        # the queue's route and results queue (by name: its URL follows from it)
        "queue": version.queue_variables(version.queue_name("results")) if version.queue else None,
    }
    return hashlib.sha256(json.dumps(published, sort_keys=True).encode()).hexdigest()


def _execution_policy(
    log_group_arn: str, work_queue_arn: str | None = None, results_queue_arn: str | None = None
) -> str:
    """Least privilege: write to the function's own log group, and with a queue, take messages
    from its own work queue (what the mapping needs) and send to its own results queue; X-Ray
    segments, which AWS grants only on `*` (the actions support no resource-level permissions),
    are the one exception."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "OwnLogGroupOnly",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
        },
        XRAY_STATEMENT,
    ]
    if work_queue_arn is not None and results_queue_arn is not None:
        statements += [
            {"Sid": "OwnWorkQueue", "Effect": "Allow", "Action": list(WORK_QUEUE_ACTIONS),
             "Resource": work_queue_arn},
            {"Sid": "OwnResultsQueue", "Effect": "Allow", "Action": list(RESULTS_QUEUE_ACTIONS),
             "Resource": results_queue_arn},
        ]  # fmt: skip
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _published_pin(
    newest: str, *, function: aws.lambda_.Function, version: VersionSettings
) -> aws.lambda_.Function:
    """The function, once its newest published version shows that the pin exists."""
    assert version.pin is not None
    if version.pin > int(newest):
        raise pulumi.RunError(
            f"{key_path('services', version.service, 'versions', version.key, 'pin')}: "
            f"{version.pin} is not a published version of {version.function_name}; its newest "
            f"is {newest}. Pin a published version (at most {newest}) or remove pin"
        )
    return function


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
