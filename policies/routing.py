"""Traffic routing: aliases serve published versions, and each route `METHOD /<service>/v<N>/...`
(its public key: on per-service APIs `METHOD /v<N>/...` on the service's own API) invokes,
through its integration, the alias of exactly that service and major version."""

from __future__ import annotations

import re

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import (
    ALIAS_NAME,
    API_ROUTE_KEY,
    ROUTE_KEY,
    VersionRef,
    alias_name,
    function_name,
)
from properties import Unknown, Unknowns, entries, guarded, lookup, text
from resources import ALIAS, FUNCTION, INTEGRATION, LAMBDA_ARN, ROUTE
from stack_config import StackConfig, stack_config
from stack_index import StackIndex, api_service, index_stack, linked, public_key, route_api

PUBLISHED_VERSION = re.compile(r"^[1-9][0-9]*$")
INVOCATION_URI = re.compile(
    r"^arn:aws[a-z-]*:apigateway:[a-z0-9-]+:lambda:path/[^/]+/functions/(.+)/invocations$"
)


def lambda_alias_serves_published_version_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check that an alias and its routing weights name published versions, never `$LATEST`."""
    if args.resource_type != ALIAS:
        return
    unknowns = Unknowns()
    version = lookup(args.props, "functionVersion")
    if isinstance(version, Unknown):
        unknowns.note("functionVersion")
    elif not isinstance(version, str) or not PUBLISHED_VERSION.fullmatch(version):
        report_violation(
            f"alias {text(args.props, 'name')!r} serves function version {version!r}; an alias "
            "must pin a published version number (publish=True gives one), never $LATEST, "
            "which changes under callers on every deployment",
            None,
        )
    weights = lookup(args.props, "routingConfig", "additionalVersionWeights")
    if isinstance(weights, Unknown):
        unknowns.note("routingConfig.additionalVersionWeights")
    for weighted, _ in entries(args.props, "routingConfig", "additionalVersionWeights"):
        if not PUBLISHED_VERSION.fullmatch(weighted):
            report_violation(
                f"alias {text(args.props, 'name')!r} routes a share of traffic to {weighted!r}; "
                "routing weights must name published version numbers, never $LATEST",
                None,
            )
    unknowns.raise_if_any()


def api_routes_invoke_own_version_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Relate every route to its integration and the alias its URI invokes, and check they are
    the route's own version's; the URI decides, dependencies can only confirm it."""
    config = stack_config()
    index = index_stack(args.resources)
    unknowns = Unknowns()
    account = _stack_account(index)
    for route in index.of_type(ROUTE):
        key = public_key(route, config)
        if isinstance(key, Unknown):
            unknowns.note(f"{route.name}.routeKey")
            continue
        # a key public_key left as it is, on perService, is not a service API's /v<N> route
        raw = text(route.props, "routeKey")
        problem = _layout_problem(route, config) if config.per_service and key == raw else None
        if problem is not None:
            report_violation(f"route {text(route.props, 'routeKey')!r} {problem}", route.urn)
            continue
        match = ROUTE_KEY.fullmatch(key) if key is not None else None
        if match is None:
            report_violation(
                f"route {key!r} is not 'METHOD /<service>/v<N>/<path>'; every route belongs to "
                "exactly one major version of one service",
                route.urn,
            )
            continue
        route_version = VersionRef(match.group(2), match.group(3))
        integrations = linked(route, "target", INTEGRATION)
        if not integrations:
            if isinstance(text(route.props, "target"), Unknown):
                unknowns.note(f"{route.name}.target")
            else:
                report_violation(
                    f"route {key!r} has no integration of this stack as its target; it must "
                    f"invoke the alias of {route_version}",
                    route.urn,
                )
            continue
        for integration in integrations:
            problem = _mismatch(integration, route_version, config, index, account, unknowns)
            if problem is not None:
                report_violation(
                    f"route {key!r} (integration {integration.name!r}) {problem}", route.urn
                )
    unknowns.raise_if_any()


def _layout_problem(route: PolicyResource, config: StackConfig) -> str | None:
    """Why a route does not sit as the per-service layout needs it: on its service's own API,
    keyed `METHOD /v<N>/<path>` (the domain's mapping key `<service>` is in front of it)."""
    api = route_api(route)
    service = api_service(api, config) if api is not None else None
    if isinstance(service, Unknown):
        return None  # the API's name is known once it is; public_key waits for it too
    if service is None:
        name = text(api.props, "name") if api is not None else None
        return (
            f"is on API {name!r}, not a service's own; with mlserve:api.layout perService every "
            "route is on the API of its service, <namePrefix>mlserve-<environment>-<service>"
        )
    key = text(route.props, "routeKey")
    if isinstance(key, str) and not API_ROUTE_KEY.fullmatch(key):
        return (
            f"on the API of {service} is not 'METHOD /v<N>/<path>'; the custom domain serves "
            f"that API at /{service}, so its routes leave the service out"
        )
    return None


def _stack_account(index: StackIndex) -> str | None:
    """The account this stack's functions live in, from their ARNs once AWS assigned them."""
    for function in index.of_type(FUNCTION):
        arn = text(function.props, "arn")
        if isinstance(arn, str) and LAMBDA_ARN.fullmatch(arn):
            return arn.split(":")[4]
    return None


def _mismatch(
    integration: PolicyResource,
    route_version: VersionRef,
    config: StackConfig,
    index: StackIndex,
    account: str | None,
    unknowns: Unknowns,
) -> str | None:
    """Why the integration does not invoke the alias of `route_version`, or None when it does."""
    expected_function = function_name(
        config.name_prefix, route_version.service, route_version.version
    )
    expected_alias = (
        alias_name(config.environment, route_version.version)
        if config.environment is not None
        else f"<environment>_{route_version.version}"
    )
    wanted = f"it must invoke alias {expected_alias} of {expected_function} ({route_version})"
    uri = text(integration.props, "integrationUri")
    if isinstance(uri, Unknown):
        unknowns.note(f"{integration.name}.integrationUri")
        return None
    invoked = _lambda_arn(uri or "")
    arn = LAMBDA_ARN.fullmatch(invoked)
    if arn is None:
        return f"invokes {uri!r}, not a Lambda alias; {wanted}"
    function, qualifier = arn.group(1), arn.group(2)
    if not qualifier or qualifier == "$LATEST":
        return f"invokes function {function!r} unqualified ($LATEST), not an alias; {wanted}"
    if function != expected_function:
        return f"invokes function {function!r}; {wanted}"
    if qualifier != expected_alias:
        same_major = ALIAS_NAME.fullmatch(qualifier)
        if same_major and same_major.group(2) == route_version.version:
            return f"invokes alias {qualifier!r} of another environment; {wanted}"
        return f"invokes alias {qualifier!r}; {wanted}"
    alias = index.aliases_by_name.get((function, qualifier))
    if alias is None:
        if index.aliases_named_later:
            unknowns.note(f"whether alias {qualifier} of {function} is this stack's")
            return None
        return (
            f"invokes alias {qualifier} of {function}, which this stack does not create; {wanted}"
        )
    if function not in index.functions_by_name:
        if index.functions_named_later:
            unknowns.note(f"whether function {function} is this stack's")
            return None
        return (
            f"invokes alias {qualifier} of {function}, a function this stack does not create; "
            f"{wanted}"
        )
    for evidence in linked(integration, "integrationUri", ALIAS):
        if evidence is not alias:
            return (
                f"invokes alias {qualifier} of {function} by its URI, while its dependencies name "
                f"{evidence.name!r}; the URI is what API Gateway calls: {wanted}"
            )
    alias_arn = text(alias.props, "arn")
    if isinstance(alias_arn, str):
        if invoked != alias_arn:
            return f"invokes {invoked}, not this stack's alias {alias_arn}; {wanted}"
    elif account is not None:
        if invoked.split(":")[4] != account:
            return f"invokes {invoked} in another account than this stack's ({account}); {wanted}"
    else:
        unknowns.note(f"the account of {integration.name}.integrationUri")
    return None


def _lambda_arn(uri: str) -> str:
    """The Lambda ARN inside an API Gateway invocation URI, or the URI itself."""
    match = INVOCATION_URI.fullmatch(uri)
    return match.group(1) if match else uri


lambda_alias_serves_published_version = ResourceValidationPolicy(
    name="lambda-alias-serves-published-version",
    description=(
        "Prohibits Lambda aliases that serve $LATEST, directly (functionVersion) or through "
        "routing weights; an alias serves published version numbers only."
    ),
    validate=guarded(lambda_alias_serves_published_version_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Create the function with publish=True and point the alias at function.version (or a "
        "pinned number via the version's pin); canary weights name the newest published version."
    ),
)

api_routes_invoke_own_version = StackValidationPolicy(
    name="api-routes-invoke-own-version",
    description=(
        "Requires every API route to be keyed METHOD /<service>/v<N>/<path> and to invoke, "
        "through its integration, the <environment>_v<N> alias of <namePrefix><service>_v<N>."
    ),
    validate=guarded(api_routes_invoke_own_version_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Create routes through VersionedApi, which gives each version one integration bound to "
        "its own alias; never point an integration at a bare function ARN or another version."
    ),
)
