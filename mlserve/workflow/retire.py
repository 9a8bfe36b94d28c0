"""`python -m mlserve retire SERVICE vN --stack S ...`: retire a deprecated major once its sunset
day has passed; its entry stays as a tombstone (status: retired) so the key is never reused."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date, timedelta

from components.settings import today_utc
from mlserve.workflow import Change, WorkflowError, apply, common_arguments, load_stacks, run
from mlserve_runtime.conventions import VERSION


def retire(args: argparse.Namespace) -> int:
    """Set status: retired in each named stack, after the sunset."""
    if not VERSION.fullmatch(args.version):
        raise WorkflowError(f"{args.version!r} is not a version key (v1, v2, ...)")
    today = args.today or today_utc()
    edits = load_stacks(args.stack)
    for edit in edits:
        service = edit.services.get(args.service)
        entry = service["versions"].get(args.version) if service is not None else None
        if entry is None:
            raise WorkflowError(f"{edit.path.name} has no {args.service} {args.version}")
        status = entry.get("status")
        if status == "retired":
            continue
        if status != "deprecated":
            raise WorkflowError(
                f"{edit.path.name}: {args.service} {args.version} is {status}; deprecate it first "
                f"(`mlserve deprecate {args.service} {args.version} --successor ...`)"
            )
        sunset = date.fromisoformat(str(entry.get("sunsetOn")))
        if today <= sunset:
            raise WorkflowError(
                f"{edit.path.name}: {args.service} {args.version} answers until its sunset "
                f"{sunset}; it may be retired from {sunset + timedelta(days=1)}"
            )
        entry["status"] = "retired"
    change = Change(edits, today=args.today)
    return apply(change, dry_run=args.dry_run, done=f"retired {args.service} {args.version}")


def main(argv: Sequence[str]) -> int:
    """`retire SERVICE vN --stack S`."""
    parser = argparse.ArgumentParser(prog="mlserve retire", description=__doc__)
    parser.add_argument("service", help="the service key, e.g. churn")
    parser.add_argument("version", help="the major to retire, e.g. v1")
    common_arguments(parser)
    args = parser.parse_args(list(argv))
    return run("retire", lambda: retire(args))
