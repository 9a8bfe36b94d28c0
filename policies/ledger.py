"""The ledger of the last deployment as the ledger policies read it: what the deployed stack
promised its callers (each version's lifecycle, names, published versions and surface, and the
stack's environment, name prefix, window and domain), from the `ledger` policy config property.

It fails closed: a stack is judged by a ledger unless the policy config says `newStack: true`,
and a ledger that is missing, empty, malformed or another stack's is a violation, as is
`newStack` together with a ledger. The first ledgers (no `ledgerVersion`, just the versions
by service) are still read; what they lack is taken from the config, with an advisory note
(`ledger-format-current`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import (
    LEDGER_POLICIES,
    LEDGER_VERSION,
    LIFECYCLES,
    QUEUE_SUFFIXES,
    SERVICE,
    VERSION,
    VersionRef,
)
from properties import guarded, lookup, whole_number

DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
FIRST_FORMAT = 1
REMOVAL_POLICY = LEDGER_POLICIES[0]
LEDGER_PROPERTIES: dict[str, Any] = {
    "ledger": {
        "description": (
            "What the last deployment promised: `python -m mlserve ledger --from <pulumi stack "
            "output --json>` builds it (ledgerVersion, stack, environment, namePrefix, "
            "deprecationWindowDays, domain, apiLayout, versions)."
        ),
        "type": "object",
    },
    "newStack": {
        "description": "The stack was never deployed, so there is no ledger to judge it by.",
        "type": "boolean",
    },
    "today": {
        "description": "The day to judge dates by (YYYY-MM-DD, UTC); defaults to today.",
        "type": "string",
        "pattern": DATE_PATTERN,
    },
}
LEDGER_SCHEMA = PolicyConfigSchema(properties=LEDGER_PROPERTIES)


@dataclass(frozen=True)
class LedgerEntry:
    """One version as the last deployment had it."""

    ref: VersionRef
    status: str
    function: str | None
    alias: str | None
    deprecated_on: date | None
    sunset_on: date | None
    published_version: int | None
    routes: tuple[str, ...] | None
    """Public route keys the version answered (None: the first ledger format kept none)."""
    auth: str | None
    queues: dict[str, str] | None = None
    """Its queues by kind (work, results, deadLetter), with `queue` in the config."""
    queue_messages: dict[str, int] = field(default_factory=dict)
    """Messages each of its queues held when the ledger was made (`mlserve ledger
    --queue-depths`); empty when not asked."""


@dataclass(frozen=True)
class Ledger:
    """The last deployment's promises."""

    format: int
    stack: str | None
    environment: str | None
    name_prefix: str | None
    window_days: int | None
    domain: str | None
    layout: str | None = None
    """`mlserve:api.layout` it was deployed with (None: a ledger from before layouts, single)."""
    entries: dict[VersionRef, LedgerEntry] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """What the ledger lacked and was taken from the config instead."""

    def answering(self) -> list[LedgerEntry]:
        """Versions callers could call in the last deployment (active or deprecated)."""
        return [entry for entry in self.entries.values() if entry.status != "retired"]


@dataclass(frozen=True)
class Judgement:
    """What a ledger policy is judging by: the ledger (None for a declared new stack) and the
    day."""

    ledger: Ledger | None
    today: date


def judgement(
    settings: Any, stack: str | None, report_violation: ReportViolation, *, owner: bool
) -> Judgement | None:
    """The ledger and day from a ledger policy's config; None when the policy cannot judge, and
    then it says so: the `owner` (the removal policy) with what is wrong and how to fix it, every
    other ledger policy with a pointer to it. None of them passes without a usable ledger."""
    problem = _unusable(settings, stack)
    if isinstance(problem, Judgement):
        return problem
    if owner:
        report_violation(problem, None)
    else:
        report_violation(
            f"cannot judge without a usable ledger ({problem.split(';', 1)[0]}); see "
            f"{REMOVAL_POLICY} for the fix",
            None,
        )
    return None


def _unusable(settings: Any, stack: str | None) -> Judgement | str:
    """The judgement a ledger policy's config allows, or why it allows none."""
    today = _today(lookup(settings, "today"))
    raw = lookup(settings, "ledger")
    if today is None:
        return f"policy config `today` {lookup(settings, 'today')!r} is not a YYYY-MM-DD day"
    if lookup(settings, "newStack") is True:
        if raw is not None and raw != {}:
            return (
                "policy config says newStack: true but also gives a ledger; a stack with a "
                "ledger was deployed before and is judged by it: drop newStack"
            )
        return Judgement(None, today)
    if raw is None:
        return (
            "no ledger: this stack is judged by what its last deployment promised. Pass "
            "--policy-pack-config with `python -m mlserve ledger --from <pulumi stack output "
            "--json>`, or, only for a stack that was never deployed, newStack: true "
            "(`mlserve ledger --new-stack`)"
        )
    ledger, problems = read_ledger(raw)
    if ledger is not None and ledger.stack is not None and stack and ledger.stack != stack:
        problems.append(
            f"the ledger is stack {ledger.stack!r}'s, but this is stack {stack!r}; build the "
            "ledger from this stack's own output"
        )
    if ledger is not None and not ledger.entries and not problems:
        problems.append(
            "the ledger lists no versions; a deployed stack always has some. Rebuild it from the "
            "deployed stack's output, or say newStack: true for a stack that was never deployed"
        )
    if problems or ledger is None:
        return "the ledger cannot be used: " + "; ".join(problems)
    return Judgement(ledger, today)


def read_ledger(raw: Any) -> tuple[Ledger | None, list[str]]:
    """The ledger from the policy config property, with what makes it unusable."""
    if not isinstance(raw, Mapping):
        return None, [f"`ledger` is not an object: {raw!r}"]
    given = raw.get("ledgerVersion", FIRST_FORMAT if "versions" not in raw else None)
    fmt = whole_number(given)
    if fmt not in (FIRST_FORMAT, LEDGER_VERSION):
        return None, [f"ledgerVersion {given!r} is not one this pack reads ({LEDGER_VERSION})"]
    versions = raw.get("versions") if "versions" in raw else raw
    if not isinstance(versions, Mapping):
        return None, ["`versions` is not an object of services"]
    problems: list[str] = []
    entries: dict[VersionRef, LedgerEntry] = {}
    for service, service_versions in versions.items():
        if service == "ledgerVersion" or not isinstance(service, str):
            continue
        if not SERVICE.fullmatch(service) or not isinstance(service_versions, Mapping):
            problems.append(f"versions.{service} is not a service of versions")
            continue
        for version, entry in service_versions.items():
            parsed = _entry(service, version, entry)
            if isinstance(parsed, str):
                problems.append(parsed)
            else:
                entries[parsed.ref] = parsed
    notes = []
    if fmt == FIRST_FORMAT:
        notes.append(
            "the ledger is of the first format: the window, names, domain and surfaces it lacks "
            "are taken from the config; rebuild it after this deployment"
        )
    ledger = Ledger(
        format=fmt,
        stack=_text(raw.get("stack")),
        environment=_text(raw.get("environment")),
        name_prefix=_text(raw.get("namePrefix")),
        window_days=whole_number(raw.get("deprecationWindowDays")),
        domain=_text(raw.get("domain")),
        layout=_text(raw.get("apiLayout")),
        entries=entries,
        notes=tuple(notes),
    )
    return ledger, problems


def _entry(service: str, version: Any, entry: Any) -> LedgerEntry | str:
    where = f"versions.{service}.{version}"
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        return f"{where} is not a version key"
    if not isinstance(entry, Mapping) or entry.get("status") not in LIFECYCLES:
        return f"{where} has no status of {', '.join(LIFECYCLES)}"
    dates: dict[str, date | None] = {}
    for key in ("deprecatedOn", "sunsetOn"):
        value = entry.get(key)
        if value is None:
            dates[key] = None
            continue
        try:
            dates[key] = date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            dates[key] = None
        if dates[key] is None:
            return f"{where}.{key} {value!r} is not a YYYY-MM-DD day"
    surface = entry.get("surface")
    routes = lookup(surface, "routes")
    given = entry.get("publishedVersion")
    published = whole_number(int(given) if isinstance(given, str) and given.isdigit() else given)
    if given is not None and (published or 0) < 1:
        return f"{where}.publishedVersion {given!r} is not a published version number"
    return LedgerEntry(
        ref=VersionRef(service, version),
        status=entry["status"],
        function=_text(entry.get("function")),
        alias=_text(entry.get("alias")),
        deprecated_on=dates["deprecatedOn"],
        sunset_on=dates["sunsetOn"],
        published_version=published,
        routes=tuple(str(r) for r in routes) if isinstance(routes, list | tuple) else None,
        auth=_text(lookup(surface, "auth")),
        queues=_queues(lookup(surface, "queue")),
        queue_messages=_depths(entry.get("queueMessages")),
    )


def _depths(recorded: Any) -> dict[str, int]:
    """The queues that held messages when the ledger was made, by kind (a number alone, as the
    first ledgers with depths wrote it, is the work queue's)."""
    if whole_number(recorded):
        return {"work": whole_number(recorded) or 0}
    if not isinstance(recorded, Mapping):
        return {}
    return {kind: held for kind, value in recorded.items() if (held := whole_number(value))}


def _queues(queue: Any) -> dict[str, str] | None:
    """A queue version's queue names by kind, when the surface has its work and results."""
    if not isinstance(queue, Mapping):
        return None
    names = {kind: name for kind in QUEUE_SUFFIXES if isinstance(name := queue.get(kind), str)}
    return names if {"work", "results"} <= set(names) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _today(value: Any) -> date | None:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def ledger_format_current_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Note a ledger of an earlier format: it is still judged by, with fallbacks to the config."""
    raw = lookup(args.get_config(), "ledger")
    ledger = read_ledger(raw)[0] if raw else None
    for note in ledger.notes if ledger is not None else ():
        report_violation(note, None)


ledger_format_current = StackValidationPolicy(
    name="ledger-format-current",
    description=(
        "Requires the ledger in the current format (advisory): the ledger policies still judge "
        "by an earlier one, taking what it lacks from the config."
    ),
    validate=guarded(ledger_format_current_validator),
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=LEDGER_SCHEMA,
    remediation_steps=(
        "Nothing to do now; after this deployment, `mlserve ledger --from` its output writes "
        "the current format."
    ),
)
