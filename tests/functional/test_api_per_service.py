"""One HTTP API per service (mlserve:api.layout perService) behind the stack's custom domain, as
the engine would create it and the pack would judge it: every public route is reachable on the
domain exactly once, through its API mapping, on its own version's alias; the generated stack of
150 services x 3 versions passes the pack; and moving between layouts is judged by the ledger."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from mlserve.analyzer import RunningPack, analyze_run, running_pack
from mlserve.ledger import policy_config_from_stack_output
from mlserve.offline import ProgramRun, run_program
from mlserve.stack_files import stack_config
from tests.conftest import TODAY
from tests.support.stacks import GENERATED_DOMAIN, generated_config, with_api

API = "aws:apigatewayv2/api:Api"
STAGE = "aws:apigatewayv2/stage:Stage"
ROUTE = "aws:apigatewayv2/route:Route"
MAPPING = "aws:apigatewayv2/apiMapping:ApiMapping"
DOMAIN = "aws:apigatewayv2/domainName:DomainName"
PERMISSION = "aws:lambda/permission:Permission"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
SCALE = (150, 3)  # services x versions: 450 versions, more than one API could hold


@pytest.fixture(scope="module")
def scale_run() -> ProgramRun:
    """150 services x 3 versions, each service on its own API, all on one custom domain."""
    config = with_api(generated_config(*SCALE, environment="scale"), layout="perService",
                      domain=GENERATED_DOMAIN)  # fmt: skip
    run = run_program(config, stack="scale", today=TODAY)
    assert run.error is None, run.error
    return run


@pytest.fixture(params=["prod_run", "prod_per_service_run", "scale_run"])
def domain_run(request: pytest.FixtureRequest) -> ProgramRun:
    run: ProgramRun = request.getfixturevalue(request.param)
    return run


def environment_of(run: ProgramRun) -> str:
    return run.config.get("mlserve:environment", run.stack)


def ledger_of(run: ProgramRun) -> dict[str, Any]:
    return policy_config_from_stack_output(json.loads(json.dumps(run.outputs)), today=TODAY)


def promised_routes(run: ProgramRun) -> dict[str, tuple[str, str]]:
    """Every public route key the deployment promises (its ledger surface), with its version."""
    return {
        key: (service, version)
        for service, versions in run.outputs["versions"].items()
        for version, entry in versions.items()
        if "surface" in entry
        for key in entry["surface"]["routes"]
    }


def reachable_on_domain(run: ProgramRun) -> Counter[tuple[str, str, str]]:
    """What the custom domain answers, as API Gateway resolves it: each API mapping's key is the
    first path segment it strips before its API matches the rest against its routes. Counted per
    (public route key, function tag service, function tag version) behind the route."""
    (domain,) = run.of_type(DOMAIN)
    routes_by_api: dict[str, list[Any]] = {}
    for route in run.of_type(ROUTE):
        routes_by_api.setdefault(route.property_dependencies["apiId"][0], []).append(route)
    reached: Counter[tuple[str, str, str]] = Counter()
    for mapping in run.of_type(MAPPING):
        assert mapping.property_dependencies["domainName"] == (domain.urn,)
        (api,) = mapping.property_dependencies["apiId"]
        stage = run.by_urn(mapping.property_dependencies["stage"][0])
        assert stage.property_dependencies["apiId"] == (api,) and stage.inputs["name"] == "$default"
        prefix = (
            f"/{mapping.inputs['apiMappingKey']}" if mapping.inputs.get("apiMappingKey") else ""
        )
        for route in routes_by_api.get(api, []):
            method, path = route.inputs["routeKey"].split(" ")
            (integration,) = route.property_dependencies["target"]
            (alias,) = run.by_urn(integration).property_dependencies["integrationUri"]
            (function,) = run.by_urn(alias).property_dependencies["functionName"]
            tags = run.by_urn(function).inputs["tags"]
            service, version = tags["mlserve:service"], tags["mlserve:api-version"]
            assert run.by_urn(alias).inputs["name"] == f"{environment_of(run)}_{version}"
            reached[(f"{method} {prefix}{path}", service, version)] += 1
    return reached


def test_given_stack_with_domain_when_run_then_every_public_route_is_reachable_exactly_once(
    domain_run: ProgramRun,
) -> None:
    # GIVEN a stack with a custom domain, on either layout
    promised = promised_routes(domain_run)
    # WHEN the domain's mappings, APIs, routes and integrations are followed
    reached = reachable_on_domain(domain_run)
    # THEN each promised public route is reached exactly once, on its own version's alias, and
    # nothing else is reachable
    assert {key: (service, version) for key, service, version in reached} == promised
    assert set(reached.values()) == {1}, [key for key, n in reached.items() if n > 1]
    assert sum(reached.values()) == len(domain_run.of_type(ROUTE))
    # with one integration per version, on the API of the version's service
    integrations = domain_run.of_type(INTEGRATION)
    assert len(integrations) == len(set(promised.values()))
    for route in domain_run.of_type(ROUTE):
        (integration,) = route.property_dependencies["target"]
        assert (
            domain_run.by_urn(integration).property_dependencies["apiId"]
            == (route.property_dependencies["apiId"])
        )
    base = f"https://{domain_run.of_type(DOMAIN)[0].inputs['domainName']}"
    assert domain_run.outputs["apiUrl"] == base
    assert domain_run.outputs["endpoints"] == {
        f"{service}/{version}": f"{base}/{service}/{version}"
        for service, version in set(promised.values())
    }


def test_given_per_service_without_domain_when_run_then_each_service_has_its_own_endpoint() -> None:
    # GIVEN the dev stack (no custom domain) on the perService layout
    run = run_program(with_api(stack_config("dev"), layout="perService"), stack="dev", today=TODAY)
    assert run.error is None, run.error
    assert any("mlserve:api.domain" in warning for warning in run.warnings), run.warnings
    apis = {api.inputs["tags"]["mlserve:service"]: api for api in run.of_type(API)}
    # THEN there is no one base URL; each version's endpoint is its service's API's own, where
    # its routes are keyed without /<service> and invoked only from that API
    assert "apiUrl" not in run.outputs and not run.of_type(DOMAIN)
    promised = promised_routes(run)
    for name, endpoint in run.outputs["endpoints"].items():
        service, version = name.split("/")
        assert endpoint == f"{apis[service].outputs['apiEndpoint']}/{version}"
    keyed = set()
    for route in run.of_type(ROUTE):
        (api,) = route.property_dependencies["apiId"]
        service = run.by_urn(api).inputs["tags"]["mlserve:service"]
        method, path = route.inputs["routeKey"].split(" ")
        keyed.add(f"{method} /{service}{path}")
    assert keyed == set(promised)
    for permission in run.of_type(PERMISSION):
        if permission.inputs["principal"] != "apigateway.amazonaws.com":
            continue
        (function,) = permission.property_dependencies["function"]
        service = run.by_urn(function).inputs["tags"]["mlserve:service"]
        assert permission.inputs["sourceArn"].startswith(
            f"{apis[service].outputs['executionArn']}/*/"
        )


@pytest.fixture(scope="module")
def scale_pack(scale_run: ProgramRun) -> Iterator[RunningPack]:
    with running_pack(scale_run.config, stack=scale_run.stack) as pack:
        yield pack


def test_given_generated_scale_stack_when_analyzed_then_no_violation(
    scale_run: ProgramRun, scale_pack: RunningPack
) -> None:
    # GIVEN 450 versions on 150 APIs behind one domain, judged by the ledger of that same state
    # (every ledger rule then compares every version's surface, code and dates)
    # WHEN the engine sends every resource and the stack THEN nothing at all is reported
    assert analyze_run(scale_run, policy_config=ledger_of(scale_run), pack=scale_pack) == []
