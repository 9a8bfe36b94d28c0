"""`python -m mlserve deprecate SERVICE vN --successor vM [--sunset DATE] --stack S ...`: mark an
active major deprecated from today, with the earliest sunset the rules allow (today plus the
largest of the stack's `deprecationWindowDays`, the pack's `minimumDeprecationWindowDays` and,
with `--ledger`, the window the last deployment recorded) or a later one, then regenerate the
catalogue, the OpenAPI documents and the client's deprecation markers."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from components.settings import ConfigError, today_utc
from mlserve.stack_files import StackFileError, stack_settings
from mlserve.workflow import (
    Change,
    StackEdit,
    WorkflowError,
    apply,
    common_arguments,
    load_stacks,
    run,
)
from mlserve_runtime.conventions import DEFAULT_MINIMUM_DEPRECATION_WINDOW_DAYS, VERSION


def earliest_sunset(edit: StackEdit, today: date, ledger: dict[str, Any] | None) -> date:
    """Today plus the largest window that applies to this stack."""
    try:
        window = stack_settings(edit.stack, today=today).deprecation_window_days
    except (ConfigError, StackFileError) as error:
        raise WorkflowError(str(error).splitlines()[0]) from None
    recorded = int((ledger or {}).get("deprecationWindowDays") or 0)
    return today + timedelta(days=max(window, recorded, DEFAULT_MINIMUM_DEPRECATION_WINDOW_DAYS))


def _ledger(path: Path | None) -> dict[str, Any] | None:
    """The ledger inside a policy pack config written by `mlserve ledger`."""
    if path is None:
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise WorkflowError(f"--ledger {path}: {error}") from None
    settings: Any = next(iter(document.values()), {}) if isinstance(document, dict) else {}
    ledger = settings.get("ledger") if isinstance(settings, dict) else None
    if not isinstance(ledger, dict):
        raise WorkflowError(f"--ledger {path} holds no ledger; build it with `mlserve ledger`")
    return ledger


def deprecate(args: argparse.Namespace) -> int:
    """Set status, deprecatedOn and sunsetOn in each named stack."""
    for key in (args.version, args.successor):
        if not VERSION.fullmatch(key):
            raise WorkflowError(f"{key!r} is not a version key (v1, v2, ...)")
    today = args.today or today_utc()
    ledger = _ledger(args.ledger)
    edits = load_stacks(args.stack)
    for edit in edits:
        versions = _versions(edit, args.service)
        entry = versions.get(args.version)
        if entry is None:
            raise WorkflowError(f"{edit.path.name} has no {args.service} {args.version}")
        successor = versions.get(args.successor)
        if successor is None or int(args.successor[1:]) <= int(args.version[1:]):
            raise WorkflowError(
                f"{edit.path.name}: successor {args.successor} must be a higher major of "
                f"{args.service} in the stack"
            )
        if successor.get("status") != "active":
            raise WorkflowError(f"{edit.path.name}: successor {args.service} {args.successor} "
                                f"is {successor.get('status')}, not active")  # fmt: skip
        status = entry.get("status")
        if status == "retired":
            raise WorkflowError(f"{edit.path.name}: {args.service} {args.version} is retired")
        if status == "deprecated":
            continue  # its dates are promises already; deprecate never moves them
        earliest = earliest_sunset(edit, today, ledger)
        planned = _day(entry.get("sunsetOn"))
        sunset = args.sunset or max(earliest, planned or earliest)
        if sunset < earliest:
            raise WorkflowError(
                f"{edit.path.name}: --sunset {sunset} is before the earliest allowed sunset "
                f"{earliest} (today plus the deprecation window)"
            )
        entry["status"] = "deprecated"
        entry["deprecatedOn"] = today.isoformat()
        entry["sunsetOn"] = sunset.isoformat()
        entry["successor"] = args.successor
    change = Change(edits, today=args.today, next_steps=[
        "deploy dev, then prod: callers get Deprecation and Sunset headers from the deployment",
    ])  # fmt: skip
    return apply(change, dry_run=args.dry_run, done=f"deprecated {args.service} {args.version}")


def _versions(edit: StackEdit, service: str) -> Any:
    if service not in edit.services:
        raise WorkflowError(f"{edit.path.name} has no service {service!r}")
    return edit.services[service]["versions"]


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def main(argv: Sequence[str]) -> int:
    """`deprecate SERVICE vN --successor vM [--sunset YYYY-MM-DD] [--ledger FILE] --stack S`."""
    parser = argparse.ArgumentParser(prog="mlserve deprecate", description=__doc__)
    parser.add_argument("service", help="the service key, e.g. churn")
    parser.add_argument("version", help="the major to deprecate, e.g. v2")
    parser.add_argument("--successor", required=True, help="the major callers move to, e.g. v3")
    parser.add_argument("--sunset", type=date.fromisoformat,
                        help="the sunset day (default: the earliest allowed)")  # fmt: skip
    parser.add_argument("--ledger", type=Path, help="the ledger (mlserve ledger) of the stack")
    common_arguments(parser)
    args = parser.parse_args(list(argv))
    return run("deprecate", lambda: deprecate(args))
