"""Who may invoke what: Lambda permissions are qualified and API Gateway grants are scoped to one
API's routes; no trust or resource policy allows a wildcard principal."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import base_path, parse_function_name
from properties import Unknown, Unknowns, guarded, items, lookup, text
from resources import (
    API,
    API_GATEWAY_PRINCIPAL,
    EXECUTE_API_ARN,
    LAMBDA_ARN,
    PERMISSION,
    function_name_of,
)
from stack_config import stack_config
from stack_index import api_service, index_stack

# Identity policies cannot name principals (AWS rejects the element), so only trust and resource
# policies are read; skipping identity policies also keeps previews free of needless notes.
IDENTITY_POLICY_TYPES = frozenset(
    {
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/policy:Policy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    }
)
POLICY_DOCUMENT_PROPERTIES = ("assumeRolePolicy", "policy")


def lambda_permissions_scoped_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check a Lambda permission's qualifier and, for API Gateway, its source ARN."""
    if args.resource_type != PERMISSION:
        return
    unknowns = Unknowns()
    qualifier = text(args.props, "qualifier")
    function = text(args.props, "function")
    if qualifier is None and isinstance(function, str):
        arn = LAMBDA_ARN.fullmatch(function)
        qualifier = arn.group(2) if arn else None
    if isinstance(qualifier, Unknown):
        unknowns.note("qualifier")
    elif not qualifier or qualifier == "$LATEST":
        report_violation(
            f"permission {args.name!r} grants the whole function {function!r}; set qualifier to "
            "the version's alias so the grant covers exactly one major version",
            None,
        )
    principal = text(args.props, "principal")
    source_arn, source_account = text(args.props, "sourceArn"), text(args.props, "sourceAccount")
    if isinstance(principal, Unknown):
        unknowns.note("principal")
    elif (
        isinstance(principal, str)
        and principal.endswith(".amazonaws.com")
        and source_arn is None
        and source_account is None
    ):
        report_violation(
            f"permission {args.name!r} lets the service {principal} invoke on behalf of any "
            "account (no sourceArn, no sourceAccount); name the resource that may invoke",
            None,
        )
    elif principal == API_GATEWAY_PRINCIPAL:
        if isinstance(source_arn, Unknown):
            unknowns.note("sourceArn")
        elif source_arn is None:
            report_violation(
                f"permission {args.name!r} lets API Gateway invoke without a sourceArn, so any "
                "API in any account may call it; set sourceArn to the route's execute-api ARN",
                None,
            )
        elif not EXECUTE_API_ARN.fullmatch(source_arn) or source_arn.endswith("*"):
            report_violation(
                f"permission {args.name!r} has sourceArn {source_arn!r}; use one API's "
                "execute-api ARN (arn:aws:execute-api:<region>:<account>:<api id>/<stage>/"
                "<METHOD>/<path>) that does not end in a wildcard",
                None,
            )
    unknowns.raise_if_any()


def no_wildcard_principals_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check Lambda permission principals and trust/resource policy documents for wildcards."""
    unknowns = Unknowns()
    if args.resource_type == PERMISSION:
        principal = text(args.props, "principal")
        if isinstance(principal, Unknown):
            unknowns.note("principal")
        elif principal is not None and "*" in principal:
            report_violation(
                f"permission {args.name!r} grants principal {principal!r}; name one service "
                "or role instead of a wildcard",
                None,
            )
    if args.resource_type not in IDENTITY_POLICY_TYPES:
        for prop in POLICY_DOCUMENT_PROPERTIES:
            document = lookup(args.props, prop)
            if isinstance(document, Unknown):
                unknowns.note(prop)
            elif document is not None:
                for problem in _wildcard_statements(document):
                    report_violation(f"{prop} of {args.name!r}: {problem}", None)
    unknowns.raise_if_any()


def _wildcard_statements(document: Any) -> Iterator[str]:
    """The statements of a policy document that allow any principal."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            yield "is not a JSON policy document"
            return
    statements = lookup(document, "Statement")
    listed = [statements] if isinstance(statements, Mapping) else list(items(statements))
    for number, statement in enumerate(listed, start=1):
        if lookup(statement, "Effect") != "Allow":
            continue
        sid = lookup(statement, "Sid") or f"#{number}"
        if lookup(statement, "NotPrincipal") is not None:
            yield f"statement {sid} allows everyone but the NotPrincipal; name the principals"
        elif _is_wildcard(lookup(statement, "Principal")):
            yield f"statement {sid} allows principal '*'; name the principals"


def _is_wildcard(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any(_is_wildcard(value) for value in principal.values())
    return any(value == "*" for value in items(principal))


def api_grants_name_own_routes_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Relate every API Gateway grant to this stack's API and to a route of the version whose
    alias it qualifies, reading the sourceArn itself."""
    config = stack_config()
    index = index_stack(args.resources)
    unknowns = Unknowns()
    apis = [(text(api.props, "executionArn"), api) for api in index.of_type(API)]
    api_of_arn = {arn: api for arn, api in apis if isinstance(arn, str)}
    for permission in index.of_type(PERMISSION):
        if text(permission.props, "principal") != API_GATEWAY_PRINCIPAL:
            continue
        source_arn = text(permission.props, "sourceArn")
        function = text(permission.props, "function")
        qualifier = text(permission.props, "qualifier")
        if any(isinstance(v, Unknown) for v in (source_arn, function, qualifier)):
            unknowns.note(f"{permission.name}.sourceArn")
            continue
        if not isinstance(source_arn, str) or not isinstance(function, str):
            continue  # lambda-permissions-scoped reports a missing sourceArn
        # `<executionArn>/<stage>/<METHOD>/<path>`; an execution ARN holds no `/`
        api = source_arn.split("/", 1)[0]
        if api not in api_of_arn:
            if len(api_of_arn) < len(apis):
                unknowns.note(f"{permission.name}: this stack's API execution ARN")
            else:
                report_violation(
                    f"permission {permission.name!r} lets {source_arn} invoke, which is not an "
                    "execute-api ARN of this stack's API (another API, or another account's); "
                    "grant exactly this stack's routes",
                    permission.urn,
                )
            continue
        version = parse_function_name(config.name_prefix, function_name_of(function))
        route = source_arn[len(api) + 1 :].split("/", 2)  # <stage>/<METHOD>/<path>
        path = f"/{route[2]}" if len(route) == 3 else ""
        if version is None:
            continue
        prefix = base_path(*version)
        if config.per_service:  # on the service's own API its routes are /v<N>/...
            service = api_service(api_of_arn[api], config)
            if isinstance(service, Unknown):
                unknowns.note(f"{permission.name}: the name of the API it names")
                continue
            if service != version.service:
                report_violation(
                    f"permission {permission.name!r} on {version} ({qualifier}) lets API "
                    f"{text(api_of_arn[api].props, 'name')!r} invoke, which is not the API of "
                    f"{version.service}; each version's alias is invoked by its own routes only",
                    permission.urn,
                )
                continue
            prefix = f"/{version.version}"
        if not path.startswith(f"{prefix}/"):
            report_violation(
                f"permission {permission.name!r} on {version} ({qualifier}) grants route "
                f"{route[1] if len(route) > 1 else '?'} {path or '?'}, which is not one of "
                f"{version}'s; each version's alias is invoked by its own routes only",
                permission.urn,
            )
    unknowns.raise_if_any()


api_grants_name_own_routes = StackValidationPolicy(
    name="api-grants-name-own-routes",
    description=(
        "Requires every API Gateway grant on a version's alias to name a route of this stack's "
        "own API, and a route of that version."
    ),
    validate=guarded(api_grants_name_own_routes_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Let VersionedApi create the permissions: source_arn is the stack's API execution ARN "
        "and exactly the route of the version the qualifier names."
    ),
)

lambda_permissions_scoped = ResourceValidationPolicy(
    name="lambda-permissions-scoped",
    description=(
        "Requires every Lambda permission to be qualified with an alias, and API Gateway grants "
        "to carry a sourceArn of one API's execute-api ARN that does not end in a wildcard."
    ),
    validate=guarded(lambda_permissions_scoped_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Set qualifier=<alias name> on aws.lambda_.Permission and, for API Gateway, "
        "source_arn=f'{api.execution_arn}/*/<METHOD>/<service>/v<N>/<path>' (on per-service APIs "
        "the service's API and /*/<METHOD>/v<N>/<path>; VersionedApi does both)."
    ),
)

no_wildcard_principals = ResourceValidationPolicy(
    name="no-wildcard-principals",
    description=(
        "Prohibits wildcard principals ('*') in Lambda permissions and in any trust or resource "
        "policy document, including Allow statements with NotPrincipal."
    ),
    validate=guarded(no_wildcard_principals_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Name the service principal (apigateway.amazonaws.com, lambda.amazonaws.com) or the "
        "consumer role ARN explicitly; give other accounts access through mlserve consumers."
    ),
)
