"""lambda-alias-serves-published-version and api-routes-invoke-own-version, called directly."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from tests.support.pack import (
    ALIAS,
    FUNCTION,
    INTEGRATION,
    ROUTE,
    UNKNOWN,
    check,
    engine_config,
    link,
    pack_module,
    resource_args,
    stack_args,
    stack_resource,
    use_stack_config,
    version_function,
)

routing = pack_module("routing")
ACCOUNT = "arn:aws:lambda:us-east-1:123456789012:function"


@pytest.fixture(autouse=True)
def prod_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prod stack: environment prod, no name prefix."""
    use_stack_config(monkeypatch, engine_config())


@pytest.mark.parametrize(
    "props",
    [
        {"name": "prod_v2", "functionVersion": "7"},
        {
            "name": "prod_v2",
            "functionVersion": "3",
            "routingConfig": {"additionalVersionWeights": {"7": 0.1}},
        },
    ],
)
def test_given_alias_on_published_versions_when_checked_then_passes(props: dict[str, Any]) -> None:
    assert check(routing.lambda_alias_serves_published_version, resource_args(ALIAS, props)) == []


@pytest.mark.parametrize(
    "props",
    [
        {"name": "prod_v2", "functionVersion": "$LATEST"},
        {"name": "prod_v2"},
        {"name": "prod_v2", "functionVersion": 7},
        {
            "name": "prod_v2",
            "functionVersion": "3",
            "routingConfig": {"additionalVersionWeights": {"$LATEST": 0.5}},
        },
    ],
)
def test_given_alias_reaching_latest_when_checked_then_violation(props: dict[str, Any]) -> None:
    # GIVEN an alias serving $LATEST directly, by weight, or nothing published
    messages = check(routing.lambda_alias_serves_published_version, resource_args(ALIAS, props))
    # THEN exactly one violation says so
    assert len(messages) == 1
    assert "$LATEST" in messages[0]


def test_given_unknown_version_when_previewed_then_weights_checked_then_unknown() -> None:
    # GIVEN a preview: functionVersion unknown but a $LATEST weight is known
    props = {
        "name": "prod_v2",
        "functionVersion": UNKNOWN,
        "routingConfig": {"additionalVersionWeights": {"$LATEST": 0.5}},
    }
    reported: list[str] = []
    # WHEN checked THEN the definite violation is reported before the unknown is raised
    with pytest.raises(UnknownValueError):
        routing.lambda_alias_serves_published_version.validate(
            resource_args(ALIAS, props), lambda message, urn=None: reported.append(message)
        )
    assert len(reported) == 1 and "$LATEST" in reported[0]


def version_chain(
    service: str, version: str, *, alias: str | None = None, function: str | None = None
) -> tuple[PolicyResource, PolicyResource, PolicyResource]:
    """A function, its alias and an integration bound to the alias, linked as the engine does."""
    function_props = version_function(service, version)
    if function is not None:
        function_props["name"] = function
    function_resource = stack_resource(FUNCTION, function_props, name=f"{service}-{version}")
    alias_name = alias or f"prod_{version}"
    alias_resource = link(
        stack_resource(
            ALIAS,
            {
                "name": alias_name,
                "functionName": function_props["name"],
                "functionVersion": "7",
                "arn": f"{ACCOUNT}:{function_props['name']}:{alias_name}",
            },
            name=f"{service}-{version}-alias",
        ),
        "functionName",
        function_resource,
    )
    integration = link(
        stack_resource(
            INTEGRATION,
            {"integrationUri": f"{ACCOUNT}:{function_props['name']}:{alias_name}"},
            name=f"{service}-{version}-integration",
        ),
        "integrationUri",
        alias_resource,
    )
    return function_resource, alias_resource, integration


def route(key: str, integration: PolicyResource | None, target: str = "integrations/abc") -> Any:
    """A route resource whose target was computed from the integration's id."""
    resource = stack_resource(ROUTE, {"routeKey": key, "target": target}, name=key)
    return link(resource, "target", integration) if integration is not None else resource


def test_given_routes_on_their_own_version_alias_when_checked_then_passes() -> None:
    v1, v2 = version_chain("churn", "v1"), version_chain("churn", "v2")
    resources = [*v1, *v2, route("POST /churn/v1/predict", v1[2]), route("GET /churn/v2/x", v2[2])]
    assert check(routing.api_routes_invoke_own_version, stack_args(resources)) == []


def test_given_route_of_v2_on_v1_integration_when_checked_then_violation() -> None:
    # GIVEN POST /churn/v2/predict wired to churn v1's integration
    v1 = version_chain("churn", "v1")
    resources = [*v1, route("POST /churn/v2/predict", v1[2])]
    # WHEN checked THEN the route names what it should invoke
    messages = check(routing.api_routes_invoke_own_version, stack_args(resources))
    assert len(messages) == 1
    assert "'POST /churn/v2/predict'" in messages[0]
    assert "it must invoke alias prod_v2 of churn_v2 (churn v2)" in messages[0]


def test_given_alias_named_for_other_version_when_checked_then_violation() -> None:
    # GIVEN churn_v2's integration bound to an alias named prod_v1
    chain = version_chain("churn", "v2", alias="prod_v1")
    messages = check(
        routing.api_routes_invoke_own_version,
        stack_args([*chain, route("POST /churn/v2/predict", chain[2])]),
    )
    assert len(messages) == 1 and "invokes alias 'prod_v1'" in messages[0]


def test_given_integration_on_bare_function_when_checked_then_violation() -> None:
    # GIVEN an integration that invokes the function itself ($LATEST)
    function = stack_resource(FUNCTION, version_function("churn", "v2"), name="churn-v2")
    integration = link(
        stack_resource(INTEGRATION, {"integrationUri": f"{ACCOUNT}:churn_v2"}, name="i"),
        "integrationUri",
        function,
    )
    messages = check(
        routing.api_routes_invoke_own_version,
        stack_args([function, integration, route("POST /churn/v2/predict", integration)]),
    )
    assert len(messages) == 1 and "unqualified ($LATEST)" in messages[0]


@pytest.mark.parametrize(
    "key", ["POST /predict", "$default", "ANY /churn/v2/{proxy+}", "POST /churn/v2"]
)
def test_given_unversioned_route_key_when_checked_then_violation(key: str) -> None:
    chain = version_chain("churn", "v2")
    messages = check(
        routing.api_routes_invoke_own_version, stack_args([*chain, route(key, chain[2])])
    )
    assert len(messages) == 1 and "is not 'METHOD /<service>/v<N>/<path>'" in messages[0]


def test_given_route_without_integration_when_checked_then_violation() -> None:
    messages = check(
        routing.api_routes_invoke_own_version,
        stack_args([route("POST /churn/v2/predict", None, target="integrations/elsewhere")]),
    )
    assert len(messages) == 1 and "no integration of this stack" in messages[0]


def test_given_no_property_dependencies_when_uri_names_alias_then_uri_text_is_used() -> None:
    # GIVEN an integration without recorded dependencies but a known alias ARN
    function, alias, _ = version_chain("churn", "v1")
    integration = stack_resource(
        INTEGRATION, {"integrationUri": f"{ACCOUNT}:churn_v1:prod_v1"}, name="i"
    )
    resources = [function, alias, integration, route("POST /churn/v2/predict", integration)]
    # WHEN the v2 route is checked THEN the ARN text still reveals churn v1
    messages = check(routing.api_routes_invoke_own_version, stack_args(resources))
    assert len(messages) == 1 and "churn_v1" in messages[0]


def test_given_unknown_route_key_when_previewed_then_cannot_run() -> None:
    chain = version_chain("churn", "v2")
    resources = [*chain, route(UNKNOWN, chain[2])]
    with pytest.raises(UnknownValueError):
        check(routing.api_routes_invoke_own_version, stack_args(resources))


def test_given_unknown_uri_without_dependencies_when_previewed_then_cannot_run() -> None:
    integration = stack_resource(INTEGRATION, {"integrationUri": UNKNOWN}, name="i")
    with pytest.raises(UnknownValueError):
        check(
            routing.api_routes_invoke_own_version,
            stack_args([integration, route("POST /churn/v2/predict", integration)]),
        )


def test_given_unknown_uri_with_dependencies_when_previewed_then_cannot_run() -> None:
    # GIVEN a preview where the URI is unknown but the engine recorded a dependency on v1's alias
    function, alias, integration = version_chain("churn", "v1")
    integration = link(
        stack_resource(INTEGRATION, {"integrationUri": UNKNOWN}, name="i"), "integrationUri", alias
    )
    # WHEN a v2 route uses it THEN the verdict waits for the URI: dependencies only confirm it
    with pytest.raises(UnknownValueError):
        check(
            routing.api_routes_invoke_own_version,
            stack_args(
                [function, alias, integration, route("POST /churn/v2/predict", integration)]
            ),
        )


def test_given_uri_on_own_alias_but_dependency_on_another_when_checked_then_violation() -> None:
    # GIVEN a v2 integration whose URI names prod_v2 while it depends on churn v1's alias
    v1, v2 = version_chain("churn", "v1"), version_chain("churn", "v2")
    integration = link(
        stack_resource(
            INTEGRATION, {"integrationUri": v2[2].props["integrationUri"]}, name="contradicts"
        ),
        "integrationUri",
        v1[1],
    )
    resources = [*v1, *v2, integration, route("POST /churn/v2/predict", integration)]
    # WHEN checked THEN the contradiction is reported: something other than the program wired it
    messages = check(routing.api_routes_invoke_own_version, stack_args(resources))
    assert len(messages) == 1 and "while its dependencies name" in messages[0]


def test_given_uri_on_alias_in_another_account_when_checked_then_violation() -> None:
    # GIVEN an integration invoking a same-named alias in another account
    v2 = version_chain("churn", "v2")
    foreign = str(v2[2].props["integrationUri"]).replace("123456789012", "210987654321")
    integration = stack_resource(INTEGRATION, {"integrationUri": foreign}, name="foreign")
    resources = [*v2, integration, route("POST /churn/v2/predict", integration)]
    messages = check(routing.api_routes_invoke_own_version, stack_args(resources))
    assert len(messages) == 1 and "not this stack's alias" in messages[0]
