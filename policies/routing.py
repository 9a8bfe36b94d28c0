"""Traffic routing: aliases serve published versions, and each route `METHOD /<service>/v<N>/...`
invokes, through its integration, the alias of exactly that service and major version."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    ROUTE_KEY,
    TAG_SERVICE,
    TAG_VERSION,
    VersionRef,
    alias_name,
    function_name,
    parse_function_name,
)
from properties import Unknown, Unknowns, entries, guarded, lookup, text
from resources import ALIAS, FUNCTION, INTEGRATION, LAMBDA_ARN, ROUTE, function_name_of
from stack_config import StackConfig, stack_config
from stack_index import StackIndex, index_stack, linked

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


@dataclass(frozen=True)
class _Invoked:
    """What an integration invokes, as far as the stack shows it."""

    function: str | Unknown | None
    alias: str | Unknown | None
    function_version: VersionRef | None = None


def api_routes_invoke_own_version_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Relate every route to its integration, alias and function, and check they agree."""
    config = stack_config()
    index = index_stack(args.resources)
    unknowns = Unknowns()
    for route in index.of_type(ROUTE):
        key = text(route.props, "routeKey")
        if isinstance(key, Unknown):
            unknowns.note(f"{route.name}.routeKey")
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
            invoked = _invoked(integration, index, unknowns)
            problem = _mismatch(invoked, route_version, config)
            if problem is not None:
                report_violation(
                    f"route {key!r} (integration {integration.name!r}) {problem}", route.urn
                )
    unknowns.raise_if_any()


def _invoked(integration: PolicyResource, index: StackIndex, unknowns: Unknowns) -> _Invoked:
    """The function and alias an integration invokes: from the engine's dependencies first,
    from the integration URI's ARN text when the engine recorded none."""
    aliases = linked(integration, "integrationUri", ALIAS)
    if aliases:
        return _alias_target(aliases[0], unknowns)
    functions = linked(integration, "integrationUri", FUNCTION)
    if functions:
        name = text(functions[0].props, "name")
        return _Invoked(function=name, alias=None)
    uri = text(integration.props, "integrationUri")
    if isinstance(uri, Unknown):
        unknowns.note(f"{integration.name}.integrationUri")
        return _Invoked(function=uri, alias=uri)
    arn_match = LAMBDA_ARN.fullmatch(_lambda_arn(uri or ""))
    if arn_match is None:
        return _Invoked(function=None, alias=None)
    function, qualifier = arn_match.group(1), arn_match.group(2)
    alias = index.aliases_by_name.get((function, qualifier or ""))
    if alias is not None:
        return _alias_target(alias, unknowns)
    return _Invoked(function=function, alias=qualifier)


def _lambda_arn(uri: str) -> str:
    """The Lambda ARN inside an API Gateway invocation URI, or the URI itself."""
    match = INVOCATION_URI.fullmatch(uri)
    return match.group(1) if match else uri


def _alias_target(alias: PolicyResource, unknowns: Unknowns) -> _Invoked:
    name = text(alias.props, "name")
    functions = linked(alias, "functionName", FUNCTION)
    if functions:
        function = text(functions[0].props, "name")
        tagged = _tagged_version(functions[0])
    else:
        function = text(alias.props, "functionName")
        function = function_name_of(function) if isinstance(function, str) else function
        tagged = None
    if isinstance(name, Unknown):
        unknowns.note(f"{alias.name}.name")
    if isinstance(function, Unknown):
        unknowns.note(f"{alias.name}.functionName")
    return _Invoked(function=function, alias=name, function_version=tagged)


def _tagged_version(function: PolicyResource) -> VersionRef | None:
    service = text(function.props, "tags", TAG_SERVICE)
    version = text(function.props, "tags", TAG_VERSION)
    if isinstance(service, str) and isinstance(version, str):
        return VersionRef(service, version)
    return None


def _mismatch(invoked: _Invoked, route_version: VersionRef, config: StackConfig) -> str | None:
    """Why the invoked target is not the alias of `route_version`, or None when it is."""
    expected_function = function_name(
        config.name_prefix, route_version.service, route_version.version
    )
    expected_alias = (
        alias_name(config.environment, route_version.version)
        if config.environment is not None
        else f"<environment>_{route_version.version}"
    )
    wanted = f"it must invoke alias {expected_alias} of {expected_function} ({route_version})"
    if invoked.function is None:
        return f"invokes nothing this stack manages; {wanted}"
    if invoked.alias is None:
        return (
            f"invokes function {invoked.function!r} unqualified ($LATEST), not an alias; {wanted}"
        )
    if isinstance(invoked.function, str):
        version = parse_function_name(config.name_prefix, invoked.function)
        if version != route_version:
            return f"invokes function {invoked.function!r}; {wanted}"
    elif invoked.function_version is not None and invoked.function_version != route_version:
        return f"invokes a function tagged {invoked.function_version}; {wanted}"
    if isinstance(invoked.alias, str):
        match = ALIAS_NAME.fullmatch(invoked.alias)
        if match is None or match.group(2) != route_version.version:
            return f"invokes alias {invoked.alias!r}; {wanted}"
        if config.environment is not None and match.group(1) != config.environment:
            return f"invokes alias {invoked.alias!r} of another environment; {wanted}"
    return None


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
