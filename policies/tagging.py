"""Version functions say what they are: service, major version, lifecycle and environment tags."""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from conventions import (
    DEPLOYED_LIFECYCLES,
    REQUIRED_TAGS,
    SERVICE,
    TAG_ENVIRONMENT,
    TAG_LIFECYCLE,
    TAG_SERVICE,
    TAG_VERSION,
    VERSION,
    parse_function_name,
)
from properties import Unknown, Unknowns, guarded, lookup, text, unknown
from resources import FUNCTION
from stack_config import stack_config


def lambda_version_tags_required_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check a function's mlserve tags: all present, well-formed, and true to the stack."""
    if args.resource_type != FUNCTION:
        return
    unknowns = Unknowns()
    if text(args.props, "name") in stack_config().platform_functions:
        return  # the rollout's hook: a platform function, not a version
    tags = lookup(args.props, "tags")
    if isinstance(tags, Unknown):
        unknown("tags")
    if not isinstance(tags, Mapping):
        report_violation(
            f"function {args.name!r} has no tags; it needs {', '.join(REQUIRED_TAGS)}", None
        )
        return
    values: dict[str, str] = {}
    for tag in REQUIRED_TAGS:
        value = text(tags, tag)
        if isinstance(value, Unknown):
            unknowns.note(f"tags.{tag}")
        elif value:
            values[tag] = value
    missing = [
        tag for tag in REQUIRED_TAGS if tag not in values and f"tags.{tag}" not in unknowns.paths
    ]
    if missing:
        report_violation(f"function {args.name!r} lacks the tags {', '.join(missing)}", None)
    _check_values(args.name, values, args, report_violation)
    unknowns.raise_if_any()


def _check_values(
    name: str,
    values: dict[str, str],
    args: ResourceValidationArgs,
    report_violation: ReportViolation,
) -> None:
    config = stack_config()
    service, version = values.get(TAG_SERVICE), values.get(TAG_VERSION)
    lifecycle, environment = values.get(TAG_LIFECYCLE), values.get(TAG_ENVIRONMENT)
    if service is not None and not SERVICE.fullmatch(service):
        report_violation(f"function {name!r}: {TAG_SERVICE}={service!r} is not a service key", None)
    if version is not None and not VERSION.fullmatch(version):
        report_violation(f"function {name!r}: {TAG_VERSION}={version!r} is not v1, v2, ...", None)
    if lifecycle is not None and lifecycle not in DEPLOYED_LIFECYCLES:
        report_violation(
            f"function {name!r}: {TAG_LIFECYCLE}={lifecycle!r}; a deployed version is active "
            "or deprecated (a retired version has no function)",
            None,
        )
    if environment is not None and config.environment and environment != config.environment:
        report_violation(
            f"function {name!r}: {TAG_ENVIRONMENT}={environment!r}, but this stack's "
            f"environment is {config.environment!r}",
            None,
        )
    function = text(args.props, "name")
    identity = (
        parse_function_name(config.name_prefix, function) if isinstance(function, str) else None
    )
    entry = config.version(identity.service, identity.version) if identity else None
    if entry is not None and lifecycle is not None and entry.status != lifecycle:
        report_violation(
            f"function {name!r}: {TAG_LIFECYCLE}={lifecycle!r}, but mlserve:services lists "
            f"{identity} as {entry.status!r}; the tags must follow the stack config",
            None,
        )


lambda_version_tags_required = ResourceValidationPolicy(
    name="lambda-version-tags-required",
    description=(
        "Requires every Lambda function to carry the mlserve:service, mlserve:api-version, "
        "mlserve:lifecycle (active or deprecated) and mlserve:environment tags of its version."
    ),
    validate=guarded(lambda_version_tags_required_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Create version functions through VersionedFunction, which tags them from the stack "
        "config; change a version's lifecycle in mlserve:services, never by editing tags."
    ),
)
