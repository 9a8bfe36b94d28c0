"""Versions leave only by their lifecycle: compared with a ledger of the last deployment (its
`versions` stack output), no entry disappears from the config and no version stops being
deployed before it has been deprecated and its sunset day has passed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import (
    LIFECYCLES,
    SERVICE,
    SERVICE_KEY,
    VERSION,
    VERSION_KEY,
    VersionRef,
    function_name,
)
from properties import Unknowns, entries, guarded, lookup, raise_unknown, text
from stack_config import StackConfig, stack_config
from stack_index import StackIndex, index_stack

DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
LEDGER_ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "function": {"type": "string"},
        "alias": {"type": "string"},
        "status": {"type": "string", "enum": list(LIFECYCLES)},
        "lambdaVersion": {"type": "string"},
        "pinned": {"type": "boolean"},
        "deprecatedOn": {"type": "string", "pattern": DATE_PATTERN},
        "sunsetOn": {"type": "string", "pattern": DATE_PATTERN},
        "successor": {"type": "string", "pattern": f"^{VERSION_KEY}$"},
    },
    "required": ["status"],
}
CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        "ledger": {
            "description": (
                "The `versions` stack output of the last deployment: service -> version -> "
                "{function, alias, status, ...}. Build it with `python -m mlserve ledger`."
            ),
            "type": "object",
            "propertyNames": {"pattern": f"^{SERVICE_KEY}$"},
            "additionalProperties": {
                "type": "object",
                "propertyNames": {"pattern": f"^{VERSION_KEY}$"},
                "additionalProperties": LEDGER_ENTRY_SCHEMA,
            },
        },
        "today": {
            "description": "The day to judge sunsets by (YYYY-MM-DD, UTC); defaults to today.",
            "type": "string",
            "pattern": DATE_PATTERN,
        },
    }
)
NO_LEDGER = (
    "policy config `ledger` is not set, so removed versions cannot be detected; expected only "
    "on a stack's first deployment. Pass --policy-pack-config with the ledger that "
    "`python -m mlserve ledger` builds from `pulumi stack output --json`"
)


def no_removal_of_non_deprecated_versions_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Compare the ledger of the last deployment with the new config and the new resources."""
    settings = args.get_config()
    ledger = lookup(settings, "ledger")
    if ledger is None:
        raise_unknown(NO_LEDGER)
    if not isinstance(ledger, Mapping):
        report_violation(f"policy config `ledger` is not an object: {ledger!r}", None)
        return
    today = _today(lookup(settings, "today"), report_violation)
    config = stack_config()
    if today is None:
        return
    if not config.services_read:
        report_violation(
            "mlserve:services could not be read from the stack config, so no version can be "
            "checked against the ledger (see mlserve-config-readable)",
            None,
        )
        return
    index = index_stack(args.resources)
    unknowns = Unknowns()
    for service, versions in entries(ledger):
        for version, entry in entries(versions):
            problem = _problem(service, version, entry, config, index, today, unknowns)
            if problem is not None:
                report_violation(problem, None)
    unknowns.raise_if_any()


def _today(value: Any, report_violation: ReportViolation) -> date | None:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        pass
    report_violation(f"policy config `today` {value!r} is not a YYYY-MM-DD date", None)
    return None


def _problem(
    service: str,
    version: str,
    entry: Any,
    config: StackConfig,
    index: StackIndex,
    today: date,
    unknowns: Unknowns,
) -> str | None:
    """What is wrong with how one ledger version is treated, or None."""
    status = text(entry, "status")
    if not SERVICE.fullmatch(service) or not VERSION.fullmatch(version) or status not in LIFECYCLES:
        return (
            f"ledger entry {service}.{version} is malformed ({entry!r}); rebuild the ledger "
            "from the last deployment's `versions` output"
        )
    identity = VersionRef(service, version)
    recorded_function = text(entry, "function")
    function = (
        recorded_function
        if isinstance(recorded_function, str)
        else function_name(config.name_prefix, service, version)
    )
    sunset_text = text(entry, "sunsetOn")
    try:
        sunset_on = date.fromisoformat(sunset_text) if isinstance(sunset_text, str) else None
    except ValueError:
        sunset_on = None
    current = config.version(service, version)
    if current is None and not config.readable(service, version):
        return (
            f"{identity}'s entry in mlserve:services could not be read, so its removal cannot "
            "be judged; fix it (see mlserve-config-readable)"
        )
    deployed = function in index.functions_by_name
    if not deployed and index.functions_named_later:
        unknowns.note(f"whether {function} is still deployed")
        deployed = True
    if current is None:
        return _deleted_entry(identity, status, function, sunset_on)
    if status == "retired":
        if current.status != "retired":
            return (
                f"{identity} was retired in the last deployment, and mlserve:services now lists "
                f"it as {current.status}; a retired version is never deployed again (its callers "
                f"were told 410 Gone): keep it retired and add a new major version instead"
            )
        return None
    if deployed:
        return None
    if status == "active":
        return (
            f"{identity} was active in the last deployment and would no longer be deployed "
            f"(function {function} is gone); deprecate it first (status: deprecated with "
            f"deprecatedOn, sunsetOn and successor), and retire it only after its sunset"
        )
    if sunset_on is None or sunset_on >= today:
        until = f"its sunset {sunset_on}" if sunset_on else "a sunset day has passed"
        after = (
            f"; retire it from {sunset_on + timedelta(days=1)}"
            if sunset_on
            else "; give it a sunsetOn"
        )
        return (
            f"{identity} is deprecated and would stop being deployed (function {function} is "
            f"gone) before {until}; keep it deployed until then{after}"
        )
    return None


def _deleted_entry(identity: VersionRef, status: str, function: str, sunset_on: date | None) -> str:
    tombstone = (
        f"the entry stays forever, as status: retired, so {identity.version} is never reused "
        f"for other code (a new contract is a new key, e.g. v{identity.major + 1})"
    )
    if status == "active":
        return (
            f"{identity} was active in the last deployment and its entry is gone from "
            f"mlserve:services, which would delete function {function}. Restore the entry and "
            f"deprecate it (status: deprecated with deprecatedOn, sunsetOn and successor); "
            f"{tombstone}"
        )
    if status == "deprecated":
        retire = f"after its sunset {sunset_on} " if sunset_on else "after its sunset "
        return (
            f"{identity} was deprecated in the last deployment and its entry is gone from "
            f"mlserve:services. Restore it, and {retire}set status: retired; {tombstone}"
        )
    return (
        f"{identity} was retired in the last deployment and its entry is gone from "
        f"mlserve:services. Restore it with status: retired; {tombstone}"
    )


no_removal_of_non_deprecated_versions = StackValidationPolicy(
    name="no-removal-of-non-deprecated-versions",
    description=(
        "Prohibits deleting any version's entry from mlserve:services and removing a version "
        "that the last deployment had as active, or as deprecated before its sunset day passed."
    ),
    validate=guarded(no_removal_of_non_deprecated_versions_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=CONFIG_SCHEMA,
    remediation_steps=(
        "Keep every version's entry in mlserve:services. Retire a version in two deployments: "
        "first status: deprecated with deprecatedOn, sunsetOn and successor (callers get "
        "Deprecation and Sunset headers), then status: retired after the sunset day. Pass the "
        "ledger with --policy-pack-config (python -m mlserve ledger)."
    ),
)
