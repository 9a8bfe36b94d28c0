"""The floor for bench/program_cost.py: the same resources with the same inputs as __main__.py,
registered with plain pulumi-aws calls — no components, validation or packaging — which is what
the SDK itself costs for this stack."""

from __future__ import annotations

import functools
import json

import pulumi
import pulumi_aws as aws


def route_arn(execution_arn: str, *, route: str) -> str:
    """The execute-api ARN of one route in any stage."""
    return f"{execution_arn}/*/{route.replace(' ', '')}"


config = pulumi.Config("mlserve")
services = config.require_object("services")
environment = config.require("environment")
prefix = config.get("namePrefix") or ""
trust = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ],
    }
)

layer = aws.lambda_.LayerVersion(
    "deps-python312-arm64",
    layer_name=f"{prefix}mlserve-deps-python312-arm64",
    description="aws-lambda-powertools and pydantic for mlserve handlers",
    code=pulumi.FileArchive("services/runtime"),
    compatible_runtimes=["python3.12"],
    compatible_architectures=["arm64"],
    skip_destroy=True,
)
api_config = config.get_object("api") or {}
per_service = api_config.get("layout") == "perService"
api_logs = aws.cloudwatch.LogGroup(
    "api-access-logs",
    name=f"/aws/apigateway/{prefix}mlserve-{environment}",
    retention_in_days=30,
    tags={"mlserve:environment": environment},
)
domain = (
    aws.apigatewayv2.DomainName(
        "api-domain",
        domain_name=api_config["domain"]["name"],
        domain_name_configuration={
            "certificate_arn": api_config["domain"]["certificateArn"],
            "endpoint_type": "REGIONAL",
            "security_policy": "TLS_1_2",
        },
    )
    if "domain" in api_config
    else None
)


def http_api(service: str | None) -> aws.apigatewayv2.Api:
    """The stack's API (service None) or a service's own, with its stage and domain mapping."""
    logical = "api" if service is None else f"api-{service}"
    api = aws.apigatewayv2.Api(
        logical,
        name=f"{prefix}mlserve-{environment}" + (f"-{service}" if service else ""),
        protocol_type="HTTP",
        description=f"mlserve model services, {environment}",
        tags={"mlserve:environment": environment},
    )
    stage = aws.apigatewayv2.Stage(
        f"{logical}-default-stage",
        api_id=api.id,
        name="$default",
        auto_deploy=True,
        access_log_settings={"destination_arn": api_logs.arn, "format": '{"requestId": "x"}'},
        default_route_settings={"throttling_burst_limit": 100, "throttling_rate_limit": 50.0},
        tags={"mlserve:environment": environment},
    )
    if domain is not None:
        aws.apigatewayv2.ApiMapping(
            f"{logical}-domain-mapping",
            api_id=api.id,
            domain_name=domain.id,
            stage=stage.id,
            api_mapping_key=service,
        )
    return api


stack_api = None if per_service else http_api(None)
apis = {service: stack_api or http_api(service) for service in services}
for service, body in services.items():
    api = apis[service]
    for key, version in body["versions"].items():
        name = f"{prefix}{service}_{key}"
        tags = {
            "mlserve:service": service,
            "mlserve:api-version": key,
            "mlserve:lifecycle": version["status"],
            "mlserve:environment": environment,
        }
        logs = aws.cloudwatch.LogGroup(
            f"{service}-{key}-logs", name=f"/aws/lambda/{name}", retention_in_days=30, tags=tags
        )
        role = aws.iam.Role(
            f"{service}-{key}-role",
            assume_role_policy=trust,
            description=f"Execution role of {name}",
            tags=tags,
        )
        policy = aws.iam.RolePolicy(
            f"{service}-{key}-policy",
            role=role.id,
            policy=logs.arn.apply(lambda arn: json.dumps({"Statement": [{"Resource": [arn]}]})),
        )
        function = aws.lambda_.Function(
            f"{service}-{key}",
            name=name,
            description="",
            role=role.arn,
            runtime="python3.12",
            handler="app.handler",
            architectures=["arm64"],
            memory_size=512,
            timeout=10,
            code=pulumi.FileArchive(version["code"]),
            layers=[layer.arn],
            publish=True,
            environment={
                "variables": {
                    "MLSERVE_SERVICE": service,
                    "MLSERVE_VERSION": key,
                    "MLSERVE_ENVIRONMENT": environment,
                    "MLSERVE_LIFECYCLE": version["status"],
                    "POWERTOOLS_SERVICE_NAME": service,
                }
            },
            tracing_config={"mode": "Active"},
            logging_config={"log_format": "Text", "log_group": logs.name},
            tags=tags,
            opts=pulumi.ResourceOptions(depends_on=[logs, policy], protect=True),
        )
        alias = aws.lambda_.Alias(
            f"{service}-{key}-alias",
            name=f"{environment}_{key}",
            description=f"{environment} traffic of {service} {key}",
            function_name=function.name,
            function_version=function.version,
            opts=pulumi.ResourceOptions(protect=True),
        )
        integration = aws.apigatewayv2.Integration(
            f"{service}-{key}-integration",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=alias.arn,
            payload_format_version="2.0",
            timeout_milliseconds=10000,
            description=f"{name}:{environment}_{key}",
        )
        for method, path in (("POST", "predict"), ("GET", "health"), ("GET", "metadata")):
            route = (
                f"{method} /{key}/{path}" if per_service else f"{method} /{service}/{key}/{path}"
            )
            aws.apigatewayv2.Route(
                f"{service}-{key}-{method.lower()}-{path}",
                api_id=api.id,
                route_key=route,
                target=integration.id.apply(lambda i: f"integrations/{i}"),
                authorization_type="NONE",
            )
            aws.lambda_.Permission(
                f"{service}-{key}-{method.lower()}-{path}-invoke",
                action="lambda:InvokeFunction",
                function=function.name,
                principal="apigateway.amazonaws.com",
                qualifier=alias.name,
                source_arn=api.execution_arn.apply(functools.partial(route_arn, route=route)),
            )
