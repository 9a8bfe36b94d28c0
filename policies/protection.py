"""Active versions cannot be deleted by accident: their function and alias are protected, so the
engine itself refuses a deletion until the version has been deprecated first."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from conventions import TAG_LIFECYCLE, parse_function_name
from properties import Unknown, Unknowns, guarded, text, unknown
from resources import ALIAS, FUNCTION, function_name_of
from stack_config import stack_config


def active_versions_protected_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check `protect` on the function and alias of every version that is (or may be) active."""
    if args.resource_type not in (FUNCTION, ALIAS) or args.opts.protect:
        return
    config = stack_config()
    unknowns = Unknowns()
    prop = "name" if args.resource_type == FUNCTION else "functionName"
    function = text(args.props, prop)
    if isinstance(function, Unknown):
        unknown(prop)
    if function in config.platform_functions:
        return  # the hook and the janitor hold no version: deleting them breaks no caller
    identity = (
        parse_function_name(config.name_prefix, function_name_of(function)) if function else None
    )
    entry = config.version(identity.service, identity.version) if identity else None
    lifecycles = {entry.status} if entry is not None else set()
    if args.resource_type == FUNCTION:
        tagged = text(args.props, "tags", TAG_LIFECYCLE)
        if isinstance(tagged, Unknown):
            unknowns.note(f"tags.{TAG_LIFECYCLE}")
        elif tagged is not None:
            lifecycles.add(tagged)
    kind = "function" if args.resource_type == FUNCTION else "alias"
    if "active" in lifecycles:
        version = identity or repr(function)
        report_violation(
            f"{kind} {args.name!r} belongs to active version {version} and is not protected; "
            "set protect=True so the engine refuses to delete it",
            None,
        )
    elif not lifecycles and not unknowns.paths:
        report_violation(
            f"{kind} {args.name!r} is not protected and the pack cannot tell whether its version "
            "is active (no mlserve:lifecycle tag, no mlserve:services entry); protect it",
            None,
        )
    unknowns.raise_if_any()


active_versions_protected = ResourceValidationPolicy(
    name="active-versions-protected",
    description=(
        "Requires the Lambda function and alias of every active version to be protected "
        "(protect=True), so removing an active version fails in the engine itself."
    ),
    validate=guarded(active_versions_protected_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Pass protect=(status == 'active') on the function and alias (VersionedFunction does). "
        "To remove a version, first deploy it as deprecated (unprotected), then retire it after "
        "its sunset."
    ),
)
