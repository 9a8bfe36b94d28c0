"""The stack's HTTP API: per service version one integration with its alias, and its routes."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.model_service import ModelService
from components.settings import (
    INTEGRATION_TIMEOUT_SECONDS,
    Route,
    ServiceSettings,
    Settings,
    VersionSettings,
)
from components.versioned_function import VersionedFunction
from mlserve_runtime.conventions import (
    ACCESS_LOG_FORMAT,
    CONSUMER_RECEIVE_ACTIONS,
    CONSUMER_SEND_ACTIONS,
)

STATEMENT_ID_LIMIT = 100  # aws.lambda_.Permission statement_id: ^[0-9A-Za-z_-]{1,100}$


def statement_id(logical_name: str) -> str:
    """A Lambda permission's statement id derived from its logical name: kept when it already fits
    `^[0-9A-Za-z_-]{1,100}$`, else cleaned, shortened and told apart by a hash of the name.

    Explicit rather than auto-named: pulumi-aws would append a random suffix to the logical name,
    which for a consumer role (`ml.reader@team`) breaks the provider's own pattern check. None
    equals an auto-named id it replaces (those end in "-" and 7 random characters), so the new
    statement never collides with the old one while the engine replaces it.
    """
    cleaned = re.sub(r"[^0-9A-Za-z_-]", "-", logical_name)
    if cleaned == logical_name and len(cleaned) <= STATEMENT_ID_LIMIT:
        return cleaned
    digest = hashlib.sha256(logical_name.encode()).hexdigest()[:10]
    return f"{cleaned[: STATEMENT_ID_LIMIT - len(digest) - 1]}-{digest}"


def route_key(version: VersionSettings, route: Route) -> str:
    """The API route key of a version's route, e.g. `POST /churn/v2/predict`."""
    return f"{route.method} {version.base_path}{route.path}"


def route_arn(execution_arn: str, *, version: VersionSettings, route: Route) -> str:
    """The execute-api ARN of exactly one route in any stage."""
    return f"{execution_arn}/*/{route.method}{version.base_path}{route.path}"


@dataclass(frozen=True)
class VersionedApiArgs:
    """Inputs of a VersionedApi."""

    settings: Settings
    services: dict[str, ModelService]


class VersionedApi(pulumi.ComponentResource):
    """An HTTP API whose route `METHOD /<service>/v<N>/<path>` invokes only `<env>_v<N>` of
    `<service>_v<N>`, through an AWS_PROXY integration (payload 2.0) bound to that alias."""

    url: pulumi.Output[str]
    """The API's base URL (the custom domain when configured)."""
    endpoints: pulumi.Output[dict[str, str]]
    """Base URL of every deployed version by `service/vN`."""
    consumer_policies: pulumi.Output[dict[str, Any]]
    """Identity policies that roles in other accounts must attach, by role ARN and service."""
    domain_target: pulumi.Output[dict[str, str]] | None
    """Where the custom domain's DNS must point (regional target name and hosted zone id)."""
    access_logs: aws.cloudwatch.LogGroup
    """The stage's JSON access log (ACCESS_LOG_FORMAT), one line per request."""

    def __init__(
        self, name: str, args: VersionedApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:api:VersionedApi", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        tags = {"mlserve:environment": settings.environment}

        self.api = aws.apigatewayv2.Api(
            name,
            name=settings.api.name,
            protocol_type="HTTP",
            description=f"mlserve model services, {settings.environment}",
            tags=tags,
            opts=child,
        )
        self.access_logs = access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=settings.api.access_log_group,
            retention_in_days=settings.log_retention_days,
            tags=tags,
            opts=child,
        )
        stage = aws.apigatewayv2.Stage(
            f"{name}-default-stage",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            access_log_settings={
                "destination_arn": access_logs.arn,
                "format": json.dumps(ACCESS_LOG_FORMAT),
            },
            default_route_settings={
                "throttling_burst_limit": settings.api.throttle.burst_limit,
                "throttling_rate_limit": float(settings.api.throttle.rate_limit),
            },
            tags=tags,
            opts=child,
        )
        self.url = self._base_url(name, settings, stage)

        endpoints: dict[str, pulumi.Output[str]] = {}
        for service in settings.services.values():
            for version in service.deployed_versions:
                function = args.services[service.key].versions[version.key]
                self._routes(service, version, function)
                endpoints[f"{service.key}/{version.key}"] = pulumi.Output.concat(
                    self.url, version.base_path
                )
        self.endpoints = (
            pulumi.Output.all(**endpoints) if endpoints else pulumi.Output.from_input({})
        )
        self.consumer_policies = self._consumers(settings, args.services)
        self.register_outputs({"url": self.url, "endpoints": self.endpoints})

    def _base_url(self, name: str, settings: Settings, stage: aws.apigatewayv2.Stage) -> Any:
        """The API endpoint, or a custom domain mapped to the stage so URLs survive a new API,
        with an alias record for it when the stack names the domain's hosted zone."""
        self.domain_target = None
        if settings.api.domain_name is None or settings.api.certificate_arn is None:
            return self.api.api_endpoint
        domain = aws.apigatewayv2.DomainName(
            f"{name}-domain",
            domain_name=settings.api.domain_name,
            domain_name_configuration={
                "certificate_arn": settings.api.certificate_arn,
                "endpoint_type": "REGIONAL",
                "security_policy": "TLS_1_2",
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.apigatewayv2.ApiMapping(
            f"{name}-domain-mapping",
            api_id=self.api.id,
            domain_name=domain.id,
            stage=stage.id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        target = domain.domain_name_configuration
        self.domain_target = pulumi.Output.all(
            targetDomainName=target.target_domain_name, hostedZoneId=target.hosted_zone_id
        )
        if settings.api.hosted_zone_id is not None:
            aws.route53.Record(
                f"{name}-domain-record",
                zone_id=settings.api.hosted_zone_id,
                name=settings.api.domain_name,
                type="A",
                aliases=[
                    {
                        "name": target.target_domain_name,
                        "zone_id": target.hosted_zone_id,
                        "evaluate_target_health": False,
                    }
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
        return pulumi.Output.concat("https://", domain.domain_name)

    def _routes(
        self, service: ServiceSettings, version: VersionSettings, function: VersionedFunction
    ) -> None:
        """One integration per version, shared by its routes; one route and one route-scoped
        invoke permission on the alias per route."""
        child = pulumi.ResourceOptions(parent=self)
        integration = aws.apigatewayv2.Integration(
            f"{version.logical_name}-integration",
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=function.alias.arn,
            payload_format_version="2.0",
            timeout_milliseconds=min(version.timeout_seconds, INTEGRATION_TIMEOUT_SECONDS) * 1000,
            description=f"{version.function_name}:{version.alias_name}",
            opts=child,
        )
        for route in version.all_routes:
            logical = f"{version.logical_name}-{route.slug}"
            aws.apigatewayv2.Route(
                logical,
                api_id=self.api.id,
                route_key=route_key(version, route),
                target=integration.id.apply(
                    lambda integration_id: f"integrations/{integration_id}"
                ),
                authorization_type="AWS_IAM" if service.auth == "iam" else "NONE",
                opts=child,
            )
            aws.lambda_.Permission(
                f"{logical}-invoke",
                statement_id=statement_id(f"{logical}-invoke"),
                action="lambda:InvokeFunction",
                function=function.function.name,
                principal="apigateway.amazonaws.com",
                qualifier=function.alias.name,
                source_arn=self.api.execution_arn.apply(
                    functools.partial(route_arn, version=version, route=route)
                ),
                opts=child,
            )

    def _consumers(
        self, settings: Settings, services: dict[str, ModelService]
    ) -> pulumi.Output[dict[str, Any]]:
        """Grant each consumer exactly its versions: a role policy for roles in this account, a
        published policy for roles elsewhere, and a Lambda permission on each alias for both."""
        consumers = [(s, c) for s in settings.services.values() for c in s.consumers]
        if not consumers:
            return pulumi.Output.from_input({})
        account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self)).account_id
        published: dict[str, dict[str, pulumi.Output[str]]] = {}
        for service, consumer in consumers:
            versions = [service.versions[key] for key in consumer.versions]
            functions = [services[service.key].versions[v.key] for v in versions]
            queues = [f.queues for f in functions if f.queues is not None]
            document = pulumi.Output.all(
                self.api.execution_arn,
                *[f.alias.arn for f in functions],
                *[arn for q in queues for arn in (q.work.arn, q.results.arn)],
            ).apply(functools.partial(_consumer_policy, service=service, versions=versions))
            role_name = consumer.role_arn.rsplit("/", 1)[1]
            grant = f"{service.key}-consumer-{consumer.account_id}-{role_name}"
            for version, function in zip(versions, functions, strict=True):
                logical = f"{version.logical_name}-consumer-{consumer.account_id}-{role_name}"
                aws.lambda_.Permission(
                    logical,
                    statement_id=statement_id(logical),
                    action="lambda:InvokeFunction",
                    function=function.function.name,
                    principal=consumer.role_arn,
                    qualifier=function.alias.name,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            if consumer.account_id == account_id:
                aws.iam.RolePolicy(
                    grant,
                    # Named, not auto-named: the logical name can pass IAM's 128 characters, and
                    # stacks sharing the role (dev, prod) each need their own policy on it.
                    name=f"{settings.api.name}-{service.key}",
                    role=role_name,
                    policy=document,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            else:
                published.setdefault(consumer.role_arn, {})[service.key] = document
        return pulumi.Output.from_input(published).apply(_decoded)


def _decoded(published: Any) -> dict[str, Any]:
    """The published policy documents as objects rather than JSON text."""
    return {
        role: {service: json.loads(document) for service, document in documents.items()}
        for role, documents in published.items()
    }


def _consumer_policy(
    arns: list[str], *, service: ServiceSettings, versions: list[VersionSettings]
) -> str:
    """An identity policy allowing exactly the routes, aliases and queues of the listed versions;
    `arns` is the API's execution ARN, the versions' alias ARNs, then the work and results queue
    ARNs of those with a queue."""
    execution_arn = arns[0]
    alias_arns, queue_arns = arns[1 : 1 + len(versions)], arns[1 + len(versions) :]
    queues: list[dict[str, Any]] = (
        [
            {
                "Sid": "SendWork",
                "Effect": "Allow",
                "Action": list(CONSUMER_SEND_ACTIONS),
                "Resource": queue_arns[0::2],
            },
            {
                "Sid": "ReadResults",
                "Effect": "Allow",
                "Action": list(CONSUMER_RECEIVE_ACTIONS),
                "Resource": queue_arns[1::2],
            },
        ]
        if queue_arns
        else []
    )
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "InvokeRoutes",
                    "Effect": "Allow",
                    "Action": "execute-api:Invoke",
                    "Resource": [
                        route_arn(execution_arn, version=version, route=route)
                        for version in versions
                        for route in version.all_routes
                    ],
                },
                {
                    "Sid": "InvokeAliases",
                    "Effect": "Allow",
                    "Action": "lambda:InvokeFunction",
                    "Resource": list(alias_arns),
                },
                *queues,
            ],
        }
    )
