"""Deprecated versions announce their end: deprecation and sunset dates that respect the stack's
window, and a successor that is deployed next to them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import (
    BASE_PATH,
    ENV_DEPRECATED_ON,
    ENV_LIFECYCLE,
    ENV_SUCCESSOR_PATH,
    ENV_SUNSET_ON,
    TAG_LIFECYCLE,
    VersionRef,
    function_name,
    parse_function_name,
)
from properties import Unknown, Unknowns, guarded, lookup, text
from resources import FUNCTION
from stack_config import StackConfig, VersionEntry, stack_config
from stack_index import StackIndex, index_stack


def deprecated_versions_announce_sunset_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Check every deprecated version's dates and successor, from its function and the config."""
    config = stack_config()
    index = index_stack(args.resources)
    unknowns = Unknowns()
    for function in index.of_type(FUNCTION):
        name = text(function.props, "name")
        if isinstance(name, Unknown):
            unknowns.note(f"{function.name}.name")
            continue
        identity = parse_function_name(config.name_prefix, name) if name else None
        if identity is None:
            continue  # lambda-function-name-matches-version reports it
        variables = lookup(function.props, "environment", "variables")
        if isinstance(variables, Unknown):
            unknowns.note(f"{function.name}.environment.variables")
            continue
        if not isinstance(variables, Mapping):
            variables = {}
        entry = config.version(identity.service, identity.version)
        lifecycles = {
            text(function.props, "tags", TAG_LIFECYCLE),
            text(variables, ENV_LIFECYCLE),
            entry.status if entry is not None else None,
        }
        if "deprecated" not in lifecycles:
            continue
        for problem in _problems(identity, variables, entry, config, index, unknowns):
            report_violation(f"{identity} ({name}) is deprecated but {problem}", function.urn)
    unknowns.raise_if_any()


def _problems(
    identity: VersionRef,
    variables: Mapping[str, object],
    entry: VersionEntry | None,
    config: StackConfig,
    index: StackIndex,
    unknowns: Unknowns,
) -> list[str]:
    problems: list[str] = []
    deprecated_on = _agreed_date(
        ENV_DEPRECATED_ON, variables, "deprecatedOn", entry.deprecated_on if entry else None,
        problems, unknowns,
    )  # fmt: skip
    sunset_on = _agreed_date(
        ENV_SUNSET_ON, variables, "sunsetOn", entry.sunset_on if entry else None, problems,
        unknowns,
    )  # fmt: skip
    if deprecated_on is not None and sunset_on is not None:
        earliest = deprecated_on + timedelta(days=config.deprecation_window_days)
        if sunset_on < earliest:
            problems.append(
                f"its sunset {sunset_on} is less than mlserve:deprecationWindowDays "
                f"({config.deprecation_window_days}) after its deprecation {deprecated_on}; the "
                f"earliest allowed sunset is {earliest}"
            )
    successor = _successor(identity, variables, entry, problems, unknowns)
    if successor is not None:
        if successor.major <= identity.major:
            problems.append(f"its successor {successor.version} is not a newer major version")
        successor_function = function_name(config.name_prefix, successor.service, successor.version)
        if successor_function not in index.functions_by_name:
            if index.functions_named_later:
                unknowns.note(f"whether {successor_function} is deployed")
            else:
                problems.append(
                    f"its successor {successor} is not deployed in this stack (no function "
                    f"{successor_function}); callers must be sent to a version that answers"
                )
    return problems


def _agreed_date(
    variable: str,
    variables: Mapping[str, object],
    key: str,
    configured: date | None,
    problems: list[str],
    unknowns: Unknowns,
) -> date | None:
    """The date the function announces (env var) and the config lists, which must agree."""
    announced_text = text(variables, variable)
    if isinstance(announced_text, Unknown):
        unknowns.note(variable)
        return configured
    announced = None
    if announced_text is not None:
        try:
            announced = date.fromisoformat(announced_text)
        except ValueError:
            problems.append(f"its {variable}={announced_text!r} is not a YYYY-MM-DD date")
            return configured
    if announced is not None and configured is not None and announced != configured:
        problems.append(
            f"its function announces {variable}={announced} while mlserve:services lists "
            f"{key}: {configured}; redeploy so both agree"
        )
    found = announced or configured
    if found is None:
        problems.append(f"it has no {key} (neither {variable} on the function nor in the config)")
    return found


def _successor(
    identity: VersionRef,
    variables: Mapping[str, object],
    entry: VersionEntry | None,
    problems: list[str],
    unknowns: Unknowns,
) -> VersionRef | None:
    path = text(variables, ENV_SUCCESSOR_PATH)
    announced: VersionRef | None = None
    if isinstance(path, Unknown):
        unknowns.note(ENV_SUCCESSOR_PATH)
    elif isinstance(path, str):
        match = BASE_PATH.fullmatch(path)
        if match is None or match.group(1) != identity.service:
            problems.append(
                f"its {ENV_SUCCESSOR_PATH}={path!r} is not /{identity.service}/v<N> of its own "
                "service"
            )
            return None
        announced = VersionRef(identity.service, match.group(2))
    configured = (
        VersionRef(identity.service, entry.successor)
        if entry is not None and entry.successor is not None
        else None
    )
    if announced is not None and configured is not None and announced != configured:
        problems.append(
            f"its function announces successor {announced.version} while mlserve:services "
            f"lists {configured.version}; redeploy so both agree"
        )
    found = announced or configured
    if found is None:
        problems.append("it names no successor version")
    return found


deprecated_versions_announce_sunset = StackValidationPolicy(
    name="deprecated-versions-announce-sunset",
    description=(
        "Requires every deprecated version to carry deprecation and sunset dates at least "
        "mlserve:deprecationWindowDays apart and a successor (a newer major of the same "
        "service) that is deployed in the stack."
    ),
    validate=guarded(deprecated_versions_announce_sunset_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "In mlserve:services give the deprecated version deprecatedOn, sunsetOn (at least "
        "mlserve:deprecationWindowDays later) and successor: a newer version that is active or "
        "deprecated; the program copies them into the function's MLSERVE_* environment."
    ),
)
