"""The HTTP API under the recording mock monitor: routes bound to exactly their version's alias."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mlserve.offline import ACCOUNT_ID, ProgramRun, run_program
from mlserve.stack_files import stack_settings
from tests.support.stacks import generated_config

ROUTE = "aws:apigatewayv2/route:Route"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
PERMISSION = "aws:lambda/permission:Permission"
ALIAS = "aws:lambda/alias:Alias"
ALIAS_ARN = re.compile(r"^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:([\w-]+):([\w-]+)$")
ROUTE_KEY = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /([a-z][a-z0-9-]*)/(v\d+)(/.*)$")


@pytest.fixture(scope="module")
def generated_run() -> ProgramRun:
    """Seven services with three versions each, one prefix, one environment."""
    run = run_program(
        generated_config(7, 3, environment="qa", name_prefix="qa-"), stack="qa", today="2026-11-27"
    )
    assert run.error is None, run.error
    return run


@pytest.fixture(params=["prod", "dev", "generated"])
def run(
    request: pytest.FixtureRequest,
    prod_run: ProgramRun,
    dev_run: ProgramRun,
    generated_run: ProgramRun,
) -> ProgramRun:
    return {"prod": prod_run, "dev": dev_run, "generated": generated_run}[request.param]


def environment_of(run: ProgramRun) -> str:
    return run.config.get("mlserve:environment", run.stack)


def integration_of(run: ProgramRun, route: Any) -> Any:
    (integration_urn,) = route.property_dependencies["target"]
    integration = run.by_urn(integration_urn)
    assert route.inputs["target"] == f"integrations/{integration.id}"
    return integration


def service_version_of(run: ProgramRun, integration: Any) -> tuple[str, str]:
    """The service and version of the function behind an integration's alias, from its tags."""
    (alias_urn,) = integration.property_dependencies["integrationUri"]
    (function_urn,) = run.by_urn(alias_urn).property_dependencies["functionName"]
    tags = run.by_urn(function_urn).inputs["tags"]
    return tags["mlserve:service"], tags["mlserve:api-version"]


def test_given_stack_when_run_then_every_route_integrates_its_own_versions_alias(
    run: ProgramRun,
) -> None:
    routes = run.of_type(ROUTE)
    assert routes
    for route in routes:
        match = ROUTE_KEY.match(route.inputs["routeKey"])
        assert match, route.inputs["routeKey"]
        _, service, version, _ = match.groups()
        integration = integration_of(run, route)
        assert service_version_of(run, integration) == (service, version)
        (alias_urn,) = integration.property_dependencies["integrationUri"]
        alias = run.by_urn(alias_urn)
        assert alias.inputs["name"] == f"{environment_of(run)}_{version}"
        function_name, alias_name = ALIAS_ARN.match(integration.inputs["integrationUri"]).groups()  # type: ignore[union-attr]
        assert (function_name, alias_name) == (alias.inputs["functionName"], alias.inputs["name"])


def test_given_stack_when_run_then_integrations_are_lambda_proxy_v2_on_aliases(
    run: ProgramRun,
) -> None:
    for integration in run.of_type(INTEGRATION):
        assert integration.inputs["integrationType"] == "AWS_PROXY"
        assert integration.inputs["payloadFormatVersion"] == "2.0"
        assert ALIAS_ARN.match(integration.inputs["integrationUri"])
        assert integration.inputs["timeoutMilliseconds"] <= 30000


def test_given_stack_when_run_then_one_integration_per_version_shared_by_its_routes(
    run: ProgramRun,
) -> None:
    versions = json.loads(run.config["mlserve:services"])
    deployed = sum(
        1 for s in versions.values() for v in s["versions"].values() if v["status"] != "retired"
    )
    assert len(run.of_type(INTEGRATION)) == deployed
    by_integration: dict[str, set[str]] = {}
    for route in run.of_type(ROUTE):
        key = route.inputs["routeKey"]
        by_integration.setdefault(route.property_dependencies["target"][0], set()).add(
            key.split(" ")[1].rsplit("/", 1)[0]
        )
    assert all(len(bases) == 1 for bases in by_integration.values())


def test_given_stack_when_run_then_route_keys_are_unique_and_include_reserved_routes(
    run: ProgramRun,
) -> None:
    keys = [route.inputs["routeKey"] for route in run.of_type(ROUTE)]
    assert len(keys) == len(set(keys))
    for integration in run.of_type(INTEGRATION):
        service, version = service_version_of(run, integration)
        base = f"/{service}/{version}"
        assert f"GET {base}/health" in keys
        assert f"GET {base}/metadata" in keys


def test_given_stack_when_run_then_each_route_has_one_route_scoped_permission_on_the_alias(
    run: ProgramRun,
) -> None:
    (api,) = run.of_type("aws:apigatewayv2/api:Api")
    execution_arn = api.outputs["executionArn"]
    api_permissions = [
        p for p in run.of_type(PERMISSION) if p.inputs["principal"] == "apigateway.amazonaws.com"
    ]
    routes = run.of_type(ROUTE)
    assert len(api_permissions) == len(routes)
    expected = set()
    for route in routes:
        method, path = route.inputs["routeKey"].split(" ")
        expected.add(f"{execution_arn}/*/{method}{path}")
    assert {p.inputs["sourceArn"] for p in api_permissions} == expected
    for permission in api_permissions:
        version = permission.inputs["sourceArn"].split("/")[4]
        assert permission.inputs["qualifier"] == f"{environment_of(run)}_{version}"
        assert permission.inputs["action"] == "lambda:InvokeFunction"
        assert permission.inputs["function"].endswith(f"_{version}")


def test_given_stack_when_run_then_nothing_of_the_api_is_protected(run: ProgramRun) -> None:
    for kind in (ROUTE, INTEGRATION, PERMISSION, "aws:apigatewayv2/stage:Stage"):
        assert not any(r.protect for r in run.of_type(kind))


def test_given_prod_when_run_then_stage_logs_and_throttles(prod_run: ProgramRun) -> None:
    (stage,) = prod_run.of_type("aws:apigatewayv2/stage:Stage")
    assert stage.inputs["name"] == "$default"
    assert stage.inputs["autoDeploy"] is True
    log_format = json.loads(stage.inputs["accessLogSettings"]["format"])
    assert {"requestId", "routeKey", "status", "integrationLatency"} <= set(log_format)
    logs = prod_run.by_name("api-access-logs")
    assert stage.inputs["accessLogSettings"]["destinationArn"] == logs.outputs["arn"]
    assert stage.inputs["defaultRouteSettings"] == {
        "throttlingBurstLimit": 200,
        "throttlingRateLimit": 100,
    }
    (api,) = prod_run.of_type("aws:apigatewayv2/api:Api")
    assert (api.inputs["name"], api.inputs["protocolType"]) == ("mlserve-prod", "HTTP")


def test_given_no_throttle_config_when_run_then_defaults_apply(generated_run: ProgramRun) -> None:
    (stage,) = generated_run.of_type("aws:apigatewayv2/stage:Stage")
    assert stage.inputs["defaultRouteSettings"] == {
        "throttlingBurstLimit": 100,
        "throttlingRateLimit": 50,
    }
    (api,) = generated_run.of_type("aws:apigatewayv2/api:Api")
    assert api.inputs["name"] == "qa-mlserve-qa"


def test_given_domain_when_run_then_endpoints_use_it(prod_run: ProgramRun) -> None:
    settings = stack_settings("prod")
    base = f"https://{settings.api.domain_name}"
    assert prod_run.outputs["apiUrl"] == base
    assert prod_run.outputs["endpoints"] == {
        f"{v.service}/{v.key}": f"{base}{v.base_path}" for v in settings.deployed_versions()
    }
    (mapping,) = prod_run.of_type("aws:apigatewayv2/apiMapping:ApiMapping")
    assert mapping.inputs["stage"]


def test_given_no_domain_when_run_then_endpoints_use_the_api_endpoint(dev_run: ProgramRun) -> None:
    (api,) = dev_run.of_type("aws:apigatewayv2/api:Api")
    assert dev_run.outputs["apiUrl"] == api.outputs["apiEndpoint"]
    assert dev_run.outputs["endpoints"]["churn/v2"] == f"{api.outputs['apiEndpoint']}/churn/v2"
    assert not dev_run.of_type("aws:apigatewayv2/domainName:DomainName")


def test_given_iam_service_when_run_then_its_routes_need_sigv4(prod_run: ProgramRun) -> None:
    for route in prod_run.of_type(ROUTE):
        expected = "AWS_IAM" if "/sentiment/" in route.inputs["routeKey"] else "NONE"
        assert route.inputs["authorizationType"] == expected


def test_given_consumer_in_own_account_when_run_then_role_policy_grants_only_listed_versions(
    prod_run: ProgramRun,
) -> None:
    (policy,) = [
        r for r in prod_run.of_type("aws:iam/rolePolicy:RolePolicy") if "consumer" in r.name
    ]
    assert policy.inputs["role"] == "support-dashboard"
    assert policy.inputs["name"] == "mlserve-prod-sentiment"  # <= 128 for any allowed config
    document = json.loads(policy.inputs["policy"])
    routes, lambdas, *queues = document["Statement"]
    # a queue version's work and results queues (tests/functional/test_queues_program)
    assert all(
        arn.split(":")[-1].startswith("sentiment_v2-") for q in queues for arn in q["Resource"]
    )
    assert routes["Action"] == "execute-api:Invoke"
    assert {arn.split("/", 2)[2] for arn in routes["Resource"]} == {
        "POST/sentiment/v2/predict", "GET/sentiment/v2/health", "GET/sentiment/v2/metadata",
    }  # fmt: skip
    assert lambdas["Resource"] == [
        f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:sentiment_v2:prod_v2"
    ]
    assert not any("*" in arn.split("/", 1)[0] for arn in routes["Resource"])


def test_given_consumer_in_other_account_when_run_then_policy_is_published_not_attached(
    prod_run: ProgramRun,
) -> None:
    published = prod_run.outputs["consumerPolicies"]
    assert list(published) == ["arn:aws:iam::210987654321:role/partner-analytics"]
    document = published["arn:aws:iam::210987654321:role/partner-analytics"]["sentiment"]
    versions = {arn.split("/")[4] for arn in document["Statement"][0]["Resource"]}
    assert versions == {"v1", "v2"}
    assert not any(
        "partner-analytics" in r.inputs["role"]
        for r in prod_run.of_type("aws:iam/rolePolicy:RolePolicy")
    )


def test_given_consumers_when_run_then_each_gets_lambda_permission_on_exactly_its_aliases(
    prod_run: ProgramRun,
) -> None:
    grants = sorted(
        (p.inputs["principal"], p.inputs["function"], p.inputs["qualifier"])
        for p in prod_run.of_type(PERMISSION)
        if p.inputs["principal"].startswith("arn:aws:iam::")
    )
    assert grants == [
        ("arn:aws:iam::123456789012:role/support-dashboard", "sentiment_v2", "prod_v2"),
        ("arn:aws:iam::210987654321:role/partner-analytics", "sentiment_v1", "prod_v1"),
        ("arn:aws:iam::210987654321:role/partner-analytics", "sentiment_v2", "prod_v2"),
    ]
