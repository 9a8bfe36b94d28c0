"""Physical names: a function is `<namePrefix><service>_v<N>`, its alias `<environment>_v<N>`."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from conventions import (
    ALIAS_NAME,
    FUNCTION_NAME_LIMIT,
    TAG_SERVICE,
    TAG_VERSION,
    parse_function_name,
)
from properties import Unknown, Unknowns, guarded, text
from resources import ALIAS, FUNCTION, function_name_of
from stack_config import stack_config


def lambda_function_name_matches_version_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check a function's name against the naming rule and its service and version tags."""
    if args.resource_type != FUNCTION:
        return
    unknowns = Unknowns()
    prefix = stack_config().name_prefix
    name = text(args.props, "name")
    if name in stack_config().platform_functions:
        return  # the rollout's hook or the janitor: platform functions, not versions
    if isinstance(name, Unknown):
        unknowns.note("name")
    elif name is None:
        report_violation(
            f"function {args.name!r} has no explicit name; set name=<namePrefix><service>_v<N> "
            "(auto-naming adds a random suffix that breaks the rule)",
            None,
        )
    else:
        version = parse_function_name(prefix, name)
        if version is None:
            report_violation(
                f"function name {name!r} does not follow "
                f"'{prefix}<service>_v<N>' (namePrefix {prefix!r})",
                None,
            )
        else:
            for tag, expected in ((TAG_SERVICE, version.service), (TAG_VERSION, version.version)):
                tagged = text(args.props, "tags", tag)
                if isinstance(tagged, Unknown):
                    unknowns.note(f"tags.{tag}")
                elif tagged is not None and tagged != expected:
                    report_violation(
                        f"function {name!r} is {version} by its name but tagged "
                        f"{tag}={tagged!r}; the name and the tag must agree",
                        None,
                    )
        if len(name) > FUNCTION_NAME_LIMIT:
            report_violation(
                f"function name {name!r} has {len(name)} characters; Lambda allows "
                f"{FUNCTION_NAME_LIMIT}",
                None,
            )
    unknowns.raise_if_any()


def lambda_alias_name_matches_version_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check an alias's name against the stack's environment and its function's major version."""
    if args.resource_type != ALIAS:
        return
    config = stack_config()
    unknowns = Unknowns()
    name = text(args.props, "name")
    function = text(args.props, "functionName")
    if isinstance(name, Unknown):
        unknowns.note("name")
    elif name is None or not (match := ALIAS_NAME.fullmatch(name)):
        report_violation(f"alias name {name!r} does not follow '<environment>_v<N>'", None)
    else:
        environment, alias_version = match.group(1), match.group(2)
        if config.environment is not None and environment != config.environment:
            report_violation(
                f"alias {name!r} names environment {environment!r}, but this stack's "
                f"mlserve:environment is {config.environment!r}; use "
                f"{config.environment}_{alias_version}",
                None,
            )
        if isinstance(function, Unknown):
            unknowns.note("functionName")
        elif function is None:
            report_violation(f"alias {name!r} names no function", None)
        else:
            version = parse_function_name(config.name_prefix, function_name_of(function))
            if version is None:
                report_violation(
                    f"alias {name!r} belongs to {function!r}, which is not a version function "
                    f"'{config.name_prefix}<service>_v<N>'",
                    None,
                )
            elif version.version != alias_version:
                report_violation(
                    f"alias {name!r} belongs to {function!r} ({version}); an alias carries "
                    f"its function's major version: name it {environment}_{version.version}",
                    None,
                )
    unknowns.raise_if_any()


lambda_function_name_matches_version = ResourceValidationPolicy(
    name="lambda-function-name-matches-version",
    description=(
        "Requires every Lambda function to be named <namePrefix><service>_v<N> (at most 64 "
        "characters) and tagged with that same service and major version."
    ),
    validate=guarded(lambda_function_name_matches_version_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Create version functions through VersionedFunction, which names them from "
        "mlserve:namePrefix and the service and version keys; never rename a function by hand "
        "(a new name is a new function)."
    ),
)

lambda_alias_name_matches_version = ResourceValidationPolicy(
    name="lambda-alias-name-matches-version",
    description=(
        "Requires every Lambda alias to be named <environment>_v<N>, with the stack's "
        "mlserve:environment and the major version of the function it belongs to."
    ),
    validate=guarded(lambda_alias_name_matches_version_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Let VersionedFunction create the alias; set mlserve:environment in the stack file when "
        "the stack name is not the environment name."
    ),
)
