"""Dates told to callers are promises: a version deprecated now is deprecated from today, not from
a day in the past, and keeps answering for at least the deprecation window after today; a sunset
once deployed may move later, never earlier. The window is the largest of the stack's
`deprecationWindowDays`, the one the ledger recorded and the pack's own floor, so the change
being judged cannot lower the rule it is judged by."""

from __future__ import annotations

from datetime import date, timedelta

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import DEFAULT_MINIMUM_DEPRECATION_WINDOW_DAYS
from ledger import LEDGER_PROPERTIES, Ledger, LedgerEntry, judgement
from properties import guarded, lookup, whole_number
from stack_config import StackConfig, VersionEntry, stack_config

CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        **LEDGER_PROPERTIES,
        "minimumDeprecationWindowDays": {
            "description": "The pack's floor for the deprecation window, whatever a config says.",
            "type": "integer",
            "minimum": 0,
            "default": DEFAULT_MINIMUM_DEPRECATION_WINDOW_DAYS,
        },
    }
)


def deprecations_keep_their_promises_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Judge every version's dates in the new config against what the ledger told callers."""
    settings = args.get_config()
    config = stack_config()
    judged = judgement(settings, config.stack, report_violation, owner=False)
    if judged is None or judged.ledger is None:
        return
    floor = lookup(settings, "minimumDeprecationWindowDays")
    window = _window(config, judged.ledger, whole_number(floor))
    for entry in judged.ledger.entries.values():
        current = config.version(entry.ref.service, entry.ref.version)
        if current is not None:
            for problem in _broken(entry, current, judged.today, window):
                report_violation(f"{entry.ref}: {problem}", None)


def _window(config: StackConfig, ledger: Ledger, floor: int | None) -> int:
    """The window a new deprecation must give: never lower than the ledger's or the floor."""
    return max(
        config.deprecation_window_days,
        ledger.window_days or 0,
        DEFAULT_MINIMUM_DEPRECATION_WINDOW_DAYS if floor is None else floor,
    )


def _broken(entry: LedgerEntry, current: VersionEntry, today: date, window: int) -> list[str]:
    """The promises the new config would break for one version."""
    problems = []
    newly = entry.status == "active" and current.status in ("deprecated", "retired")
    if newly:
        if current.deprecated_on is not None and current.deprecated_on < today:
            problems.append(
                f"it was active in the last deployment, so its deprecation starts when it is "
                f"deployed: deprecatedOn {current.deprecated_on} is in the past; use {today} or "
                "later (callers were never told of an earlier one)"
            )
        earliest = today + timedelta(days=window)
        if current.sunset_on is not None and current.sunset_on < earliest:
            problems.append(
                f"sunsetOn {current.sunset_on} is less than the deprecation window ({window} "
                f"days, the largest of the stack's, the last deployment's and the pack's floor) "
                f"after today; the earliest sunset is {earliest}"
            )
    if entry.status in ("deprecated", "retired"):
        if (
            entry.sunset_on is not None
            and current.sunset_on is not None
            and current.sunset_on < entry.sunset_on
        ):
            problems.append(
                f"its callers were told it answers until {entry.sunset_on} (Sunset), and the "
                f"config moves that to {current.sunset_on}; a sunset may only move later"
            )
        if (
            entry.deprecated_on is not None
            and current.deprecated_on is not None
            and current.deprecated_on < entry.deprecated_on
        ):
            problems.append(
                f"its deprecation was announced from {entry.deprecated_on}, and the config moves "
                f"it back to {current.deprecated_on}; keep the announced day"
            )
    return problems


deprecations_keep_their_promises = StackValidationPolicy(
    name="deprecations-keep-their-promises",
    description=(
        "Requires a newly deprecated version to be deprecated from today (not back-dated) with a "
        "sunset at least the deprecation window after today, and a deployed sunset to move only "
        "later; the window is never lower than the last deployment's or the pack's floor."
    ),
    validate=guarded(deprecations_keep_their_promises_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=CONFIG_SCHEMA,
    remediation_steps=(
        "Deprecate with deprecatedOn today or later and sunsetOn at least the window after "
        "today (`python -m mlserve deprecate` picks both); to give callers more time, move a "
        "sunset later, never earlier."
    ),
)
