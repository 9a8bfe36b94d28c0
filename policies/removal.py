"""Versions leave only by their lifecycle: compared with the ledger of the last deployment, no
entry disappears from the config, no version that callers could call stops being deployed (its
function and its alias, under the names the ledger recorded) before it was deprecated and its
sunset day passed, and a retired version never comes back. This policy also owns the ledger's
own verdict: a stack is judged by a ledger, or declared new."""

from __future__ import annotations

from datetime import date, timedelta

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import VersionRef, alias_name, function_name
from ledger import LEDGER_SCHEMA, LedgerEntry, judgement
from properties import Unknowns, guarded
from stack_config import StackConfig, stack_config
from stack_index import StackIndex, index_stack

QUEUE_KINDS = {"work": "work queue", "results": "results queue", "deadLetter": "dead-letter queue"}


def no_removal_of_non_deprecated_versions_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Compare the ledger of the last deployment with the new config and the new resources."""
    config = stack_config()
    judged = judgement(args.get_config(), config.stack, report_violation, owner=True)
    if judged is None or judged.ledger is None:
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
    for entry in judged.ledger.entries.values():
        problem = _problem(entry, config, index, judged.today, unknowns)
        if problem is not None:
            report_violation(problem, None)
        for kind, held in entry.queue_messages.items():
            name = (entry.queues or {}).get(kind)
            if name is None or name in index.queues_by_name:
                continue
            if index.queues_named_later:
                unknowns.note(f"whether {entry.ref}'s {kind} queue stays")
                continue
            report_violation(
                f"{entry.ref}'s {QUEUE_KINDS.get(kind, kind)} {name} held {held} message(s) when "
                "the ledger was made; deleting it now loses them. Let it drain first (after the "
                "sunset every work message is answered with a 410 problem; callers read their "
                "results; redrive or read the dead letters), check with `mlserve ledger "
                "--queue-depths` and deploy with that ledger",
                None,
            )
    unknowns.raise_if_any()


def _problem(
    entry: LedgerEntry, config: StackConfig, index: StackIndex, today: date, unknowns: Unknowns
) -> str | None:
    """What is wrong with how one ledger version is treated, or None."""
    ref = entry.ref
    function = entry.function or function_name(config.name_prefix, ref.service, ref.version)
    alias = entry.alias or (
        alias_name(config.environment, ref.version) if config.environment else None
    )
    current = config.version(ref.service, ref.version)
    if current is None and not config.readable(ref.service, ref.version):
        return (
            f"{ref}'s entry in mlserve:services could not be read, so its removal cannot be "
            "judged; fix it (see mlserve-config-readable)"
        )
    if current is None:
        return _deleted_entry(ref, entry.status, function, entry.sunset_on)
    if entry.status == "retired":
        if current.status != "retired":
            return (
                f"{ref} was retired in the last deployment, and mlserve:services now lists it as "
                f"{current.status}; a retired version is never deployed again (its callers were "
                "told 410 Gone): keep it retired and add a new major version instead"
            )
        return None
    gone = _gone(function, alias, index, unknowns)
    if gone is None:
        return None
    if entry.status == "active":
        return (
            f"{ref} was active in the last deployment and would no longer be deployed as it was "
            f"({gone}); deprecate it first (status: deprecated with deprecatedOn, sunsetOn and "
            "successor), and retire it only after its sunset. A changed mlserve:namePrefix or "
            "mlserve:environment renames a version's function or alias, which deletes the one "
            "callers use"
        )
    if entry.sunset_on is None or entry.sunset_on >= today:
        until = f"its sunset {entry.sunset_on}" if entry.sunset_on else "a sunset day has passed"
        after = (
            f"; retire it from {entry.sunset_on + timedelta(days=1)}"
            if entry.sunset_on
            else "; give it a sunsetOn"
        )
        return (
            f"{ref} is deprecated and would stop being deployed as it was ({gone}) before "
            f"{until}; keep it deployed until then{after}"
        )
    return None


def _gone(function: str, alias: str | None, index: StackIndex, unknowns: Unknowns) -> str | None:
    """What of a version's function and alias the new state no longer has, or None."""
    if function not in index.functions_by_name:
        if index.functions_named_later:
            unknowns.note(f"whether {function} is still deployed")
            return None
        return f"function {function} is gone"
    if alias is not None and (function, alias) not in index.aliases_by_name:
        if index.aliases_named_later:
            unknowns.note(f"whether alias {alias} of {function} is still deployed")
            return None
        return f"alias {alias} of {function}, which callers invoke, is gone"
    return None


def _deleted_entry(ref: VersionRef, status: str, function: str, sunset_on: date | None) -> str:
    tombstone = (
        f"the entry stays forever, as status: retired, so {ref.version} is never reused for "
        f"other code (a new contract is a new key, e.g. v{ref.major + 1})"
    )
    if status == "active":
        return (
            f"{ref} was active in the last deployment and its entry is gone from "
            f"mlserve:services, which would delete function {function}. Restore the entry and "
            f"deprecate it (status: deprecated with deprecatedOn, sunsetOn and successor); "
            f"{tombstone}"
        )
    if status == "deprecated":
        retire = f"after its sunset {sunset_on} " if sunset_on else "after its sunset "
        return (
            f"{ref} was deprecated in the last deployment and its entry is gone from "
            f"mlserve:services. Restore it, and {retire}set status: retired; {tombstone}"
        )
    return (
        f"{ref} was retired in the last deployment and its entry is gone from mlserve:services. "
        f"Restore it with status: retired; {tombstone}"
    )


no_removal_of_non_deprecated_versions = StackValidationPolicy(
    name="no-removal-of-non-deprecated-versions",
    description=(
        "Prohibits deleting any version's entry from mlserve:services, removing or renaming the "
        "function or alias of a version the last deployment had as active, or as deprecated "
        "before its sunset day passed, and deploying without the ledger of the last deployment "
        "(unless the stack is declared new)."
    ),
    validate=guarded(no_removal_of_non_deprecated_versions_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=LEDGER_SCHEMA,
    remediation_steps=(
        "Keep every version's entry in mlserve:services. Retire a version in two deployments: "
        "first status: deprecated with deprecatedOn, sunsetOn and successor (callers get "
        "Deprecation and Sunset headers), then status: retired after the sunset day. Pass the "
        "ledger with --policy-pack-config (python -m mlserve ledger --from the deployed stack's "
        "output); only a stack that was never deployed may say newStack: true."
    ),
)
