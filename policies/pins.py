"""An alias serves only a version its function has published: a pin (a rollback) or a canary's base
above the newest published version would make CreateAlias fail after the rest of the update
went through. The newest is the function's `version` when the engine knows it, else the ledger's
plus the one this update may publish (a stack the ledger does not have yet has published 1)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import parse_function_name
from ledger import LEDGER_SCHEMA, Ledger, judgement
from properties import Unknown, Unknowns, guarded, lookup, text
from resources import ALIAS, function_name_of
from stack_config import stack_config
from stack_index import StackIndex, index_stack

PUBLISHED = "published version"


def pinned_versions_exist_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Compare every alias's numeric target with the newest version its function can have."""
    config = stack_config()
    judged = judgement(args.get_config(), config.stack, report_violation, owner=False)
    if judged is None:
        return
    index = index_stack(args.resources)
    unknowns = Unknowns()
    for alias in index.of_type(ALIAS):
        served = lookup(alias.props, "functionVersion")
        function = text(alias.props, "functionName")
        if isinstance(served, Unknown) or isinstance(function, Unknown):
            continue  # the newest published version itself: nothing above it to check
        if not isinstance(served, str) or not served.isdigit() or not isinstance(function, str):
            continue  # lambda-alias-serves-published-version judges the shape
        name = function_name_of(function)
        newest = _newest(name, index, judged.ledger, config.name_prefix, unknowns)
        if newest is not None and int(served) > newest:
            report_violation(
                f"alias {text(alias.props, 'name')!r} of {name} would serve version {served}, "
                f"but the function's newest {PUBLISHED} after this update is at most {newest}; "
                "pin a version it has published (or drop pin)",
                alias.urn,
            )
    unknowns.raise_if_any()


def _newest(
    function: str, index: StackIndex, ledger: Ledger | None, prefix: str, unknowns: Unknowns
) -> int | None:
    """The newest version `function` can have after this update, None when unknowable."""
    resource = index.functions_by_name.get(function)
    version = lookup(resource.props, "version") if resource is not None else None
    if isinstance(version, str) and version.isdigit():
        return int(version)
    ref = parse_function_name(prefix, function)
    entry = ledger.entries.get(ref) if ledger is not None and ref is not None else None
    if ledger is None or entry is None:
        return 1  # a function this stack is creating publishes version 1
    if entry.published_version is None:
        unknowns.note(f"the newest {PUBLISHED} of {function} (the ledger does not record it)")
        return None
    return int(entry.published_version) + 1


pinned_versions_exist = StackValidationPolicy(
    name="pinned-versions-exist",
    description=(
        "Requires every alias that names a version number (a pin, a canary's base) to name one "
        "its function has published or publishes in this update."
    ),
    validate=guarded(pinned_versions_exist_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=LEDGER_SCHEMA,
    remediation_steps=(
        "Pin a version number the function has published (the ledger's publishedVersion shows "
        "the newest); a fresh stack has only version 1."
    ),
)
