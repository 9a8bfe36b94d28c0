"""The floor for bench/program_cost.py: the same resources as __main__.py, registered with plain
pulumi-aws calls and no components, validation or packaging logic — what the SDK itself costs."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

config = pulumi.Config("mlserve")
services = config.require_object("services")
environment = config.require("environment")
prefix = config.get("namePrefix") or ""

layer = aws.lambda_.LayerVersion(
    "deps", layer_name=f"{prefix}mlserve-deps", code=pulumi.FileArchive("services/runtime")
)
api = aws.apigatewayv2.Api("api", name=f"{prefix}mlserve-{environment}", protocol_type="HTTP")
api_logs = aws.cloudwatch.LogGroup("api-access-logs", retention_in_days=30)
aws.apigatewayv2.Stage(
    "api-default-stage",
    api_id=api.id,
    name="$default",
    auto_deploy=True,
    access_log_settings={"destination_arn": api_logs.arn, "format": "{}"},
)
for service, body in services.items():
    for key, version in body["versions"].items():
        name = f"{prefix}{service}_{key}"
        logs = aws.cloudwatch.LogGroup(
            f"{service}-{key}-logs", name=f"/aws/lambda/{name}", retention_in_days=30
        )
        role = aws.iam.Role(
            f"{service}-{key}-role",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )
        aws.iam.RolePolicy(
            f"{service}-{key}-policy",
            role=role.id,
            policy=logs.arn.apply(lambda arn: json.dumps({"Resource": arn})),
        )
        function = aws.lambda_.Function(
            f"{service}-{key}",
            name=name,
            role=role.arn,
            runtime="python3.12",
            handler="app.handler",
            code=pulumi.FileArchive(version["code"]),
            layers=[layer.arn],
            publish=True,
            environment={"variables": {"MLSERVE_LIFECYCLE": version["status"]}},
            tags={"mlserve:service": service, "mlserve:api-version": key},
            opts=pulumi.ResourceOptions(depends_on=[logs], protect=True),
        )
        alias = aws.lambda_.Alias(
            f"{service}-{key}-alias",
            name=f"{environment}_{key}",
            function_name=function.name,
            function_version=function.version,
            opts=pulumi.ResourceOptions(protect=True),
        )
        integration = aws.apigatewayv2.Integration(
            f"{service}-{key}-integration",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_uri=alias.arn,
            payload_format_version="2.0",
        )
        for method, path in (("POST", "predict"), ("GET", "health"), ("GET", "metadata")):
            route = f"{method} /{service}/{key}/{path}"
            aws.apigatewayv2.Route(
                f"{service}-{key}-{method.lower()}-{path}",
                api_id=api.id,
                route_key=route,
                target=integration.id.apply(lambda i: f"integrations/{i}"),
            )
            aws.lambda_.Permission(
                f"{service}-{key}-{method.lower()}-{path}-invoke",
                action="lambda:InvokeFunction",
                function=function.name,
                principal="apigateway.amazonaws.com",
                qualifier=alias.name,
                source_arn=api.execution_arn.apply(
                    lambda arn, route=route: f"{arn}/*/{route.replace(' ', '')}"
                ),
            )
