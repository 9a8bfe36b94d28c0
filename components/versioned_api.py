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
    CONSUMER_RECEIVE_ACTIONS,
    CONSUMER_SEND_ACTIONS,
    TAG_SERVICE,
    access_log_format,
    api_route_key,
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
    """The key of a version's route in its API: `POST /churn/v2/predict` on the stack's single
    API, `POST /v2/predict` on the service's own (perService)."""
    return api_route_key(
        f"{route.method} {version.base_path}{route.path}", version.owner.stack.api.per_service
    )


def route_arn(execution_arn: str, *, version: VersionSettings, route: Route) -> str:
    """The execute-api ARN of exactly one route in any stage (its path as its API has it)."""
    method, path = route_key(version, route).split(" ", 1)
    return f"{execution_arn}/*/{method}{path}"


@dataclass(frozen=True)
class VersionedApiArgs:
    """Inputs of a VersionedApi."""

    settings: Settings
    services: dict[str, ModelService]


class VersionedApi(pulumi.ComponentResource):
    """HTTP APIs whose route `METHOD /<service>/v<N>/<path>` invokes only `<env>_v<N>` of
    `<service>_v<N>`, through an AWS_PROXY integration (payload 2.0) bound to that alias: one API
    for the stack (`mlserve:api.layout: single`), or one per service (`perService`), each mapped
    on the custom domain at `/<service>`, where its routes are `METHOD /v<N>/<path>`."""

    url: pulumi.Output[str] | None
    """The stack's base URL: the custom domain, else the single API's endpoint; None for
    per-service APIs without a domain (each has its own, see endpoints)."""
    endpoints: pulumi.Output[dict[str, str]]
    """Base URL of every deployed version by `service/vN`."""
    api_ids: dict[str, pulumi.Output[str]]
    """The id of the API that serves each service."""
    consumer_policies: pulumi.Output[dict[str, Any]]
    """Identity policies that roles in other accounts must attach, by role ARN and service."""
    domain_target: pulumi.Output[dict[str, str]] | None
    """Where the custom domain's DNS must point (regional target name and hosted zone id)."""
    access_logs: aws.cloudwatch.LogGroup
    """Every stage's JSON access log (access_log_format), one line per request."""

    def __init__(
        self, name: str, args: VersionedApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:api:VersionedApi", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        self.access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=settings.api.access_log_group,
            retention_in_days=settings.log_retention_days,
            tags={"mlserve:environment": settings.environment},
            opts=child,
        )
        deployed = [s for s in settings.services.values() if s.deployed_versions]
        # None is the stack's single API; on perService every deployed service has its own
        owners: list[ServiceSettings | None] = (
            list(deployed) if settings.api.per_service else [None]
        )
        self._apis: dict[str | None, tuple[aws.apigatewayv2.Api, aws.apigatewayv2.Stage]] = {
            owner.key if owner else None: self._api(name, settings, owner) for owner in owners
        }
        self.api_ids = {service.key: self._of(service.key)[0].id for service in deployed}
        bases = self._base_urls(name, settings)
        self.url = bases.get(None)

        endpoints: dict[str, pulumi.Output[str]] = {}
        for service in settings.services.values():
            for version in service.deployed_versions:
                function = args.services[service.key].versions[version.key]
                self._routes(service, version, function)
                base = bases.get(service.key, self.url)
                assert base is not None, "every deployed service has a base URL"
                path = version.base_path if service.key not in bases else f"/{version.key}"
                endpoints[f"{service.key}/{version.key}"] = pulumi.Output.concat(base, path)
        self.endpoints = (
            pulumi.Output.all(**endpoints) if endpoints else pulumi.Output.from_input({})
        )
        self.consumer_policies = self._consumers(settings, args.services)
        self.register_outputs({"url": self.url, "endpoints": self.endpoints})

    def _of(self, service: str) -> tuple[aws.apigatewayv2.Api, aws.apigatewayv2.Stage]:
        """The API (and its stage) that serves a service."""
        return self._apis.get(service) or self._apis[None]

    def _api(
        self, name: str, settings: Settings, service: ServiceSettings | None
    ) -> tuple[aws.apigatewayv2.Api, aws.apigatewayv2.Stage]:
        """One HTTP API with its `$default` stage, logging to the stack's access log."""
        child = pulumi.ResourceOptions(parent=self)
        tags = {"mlserve:environment": settings.environment}
        if service is not None:
            tags[TAG_SERVICE] = service.key
        # the single API keeps its logical names; a service's own is told apart by its key
        logical = name if service is None else f"{name}-{service.key}"
        api = aws.apigatewayv2.Api(
            logical,
            name=settings.api.api_of(service.key) if service else settings.api.name,
            protocol_type="HTTP",
            description=f"mlserve model services, {settings.environment}"
            + (f": {service.key}" if service else ""),
            tags=tags,
            opts=child,
        )
        stage = aws.apigatewayv2.Stage(
            f"{logical}-default-stage",
            api_id=api.id,
            name="$default",
            auto_deploy=True,
            access_log_settings={
                "destination_arn": self.access_logs.arn,
                "format": json.dumps(access_log_format(service.key if service else None)),
            },
            default_route_settings={
                "throttling_burst_limit": settings.api.throttle.burst_limit,
                "throttling_rate_limit": float(settings.api.throttle.rate_limit),
            },
            tags=tags,
            opts=child,
        )
        return api, stage

    def _base_urls(self, name: str, settings: Settings) -> dict[str | None, Any]:
        """The base URL of each API by service (None: the stack's): the custom domain when
        configured, each API mapped on it (at `/<service>` for a service's own API, which the
        mapping key strips before the API matches its routes), with an alias record when the
        stack names the domain's hosted zone; else each API's own endpoint."""
        self.domain_target = None
        if settings.api.domain_name is None or settings.api.certificate_arn is None:
            return {owner: api.api_endpoint for owner, (api, _) in self._apis.items()}
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
        for owner, (api, stage) in self._apis.items():
            aws.apigatewayv2.ApiMapping(
                f"{name}-domain-mapping" if owner is None else f"{name}-{owner}-domain-mapping",
                api_id=api.id,
                domain_name=domain.id,
                stage=stage.id,
                # a single-level key: not counted against the domain's 200 multi-level mappings
                api_mapping_key=owner,
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
        return {None: pulumi.Output.concat("https://", domain.domain_name)}

    def _routes(
        self, service: ServiceSettings, version: VersionSettings, function: VersionedFunction
    ) -> None:
        """One integration per version, shared by its routes; one route and one route-scoped
        invoke permission on the alias per route."""
        child = pulumi.ResourceOptions(parent=self)
        api, _ = self._of(service.key)
        integration = aws.apigatewayv2.Integration(
            f"{version.logical_name}-integration",
            api_id=api.id,
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
                api_id=api.id,
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
                source_arn=api.execution_arn.apply(
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
                self._of(service.key)[0].execution_arn,
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
