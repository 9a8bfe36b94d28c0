"""The ledger of the last deployment: its `versions` stack output, as the policy pack config that
`pulumi preview --policy-pack policies --policy-pack-config FILE` takes."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

REMOVAL_POLICY = "no-removal-of-non-deprecated-versions"
STACK_TYPE = "pulumi:pulumi:Stack"
LIFECYCLES = ("active", "deprecated", "retired")
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"


class LedgerError(ValueError):
    """Stack output that cannot be turned into a ledger; the message says why."""


def policy_config_from_stack_output(
    stack_output: Mapping[str, Any], today: str | None = None
) -> dict[str, Any]:
    """The policy pack config for `pulumi stack output --json` (or `pulumi stack export`) of the
    last deployment; without a `versions` output (first deployment) the ledger is left out."""
    outputs = _outputs(stack_output)
    settings: dict[str, Any] = {}
    versions = outputs.get("versions")
    if versions is not None:
        settings["ledger"] = _checked_ledger(versions)
    if today is not None:
        try:
            date.fromisoformat(today)
        except ValueError:
            raise LedgerError(f"today {today!r} is not a YYYY-MM-DD date") from None
        settings["today"] = today
    return {REMOVAL_POLICY: settings}


def _outputs(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The root stack's outputs, from `stack output --json` as is or from `stack export`."""
    deployment = document.get("deployment")
    if not isinstance(deployment, Mapping) or "version" not in document:
        return document
    for resource in deployment.get("resources") or []:
        if (
            isinstance(resource, Mapping)
            and resource.get("type") == STACK_TYPE
            and not resource.get("parent")
        ):
            outputs = resource.get("outputs") or {}
            if not isinstance(outputs, Mapping):
                raise LedgerError("the stack resource's outputs in the export are not an object")
            return outputs
    return {}


def _checked_ledger(versions: Any) -> dict[str, Any]:
    """The `versions` output, unchanged, once it has the shape the policy reads."""
    if versions == "[secret]" or (isinstance(versions, Mapping) and SECRET_SIGNATURE in versions):
        raise LedgerError(
            "the versions output is secret; run `pulumi stack output --json --show-secrets`"
        )
    if not isinstance(versions, Mapping):
        raise LedgerError(f"the versions output is not an object: {versions!r}")
    for service, service_versions in versions.items():
        if not isinstance(service_versions, Mapping):
            raise LedgerError(f"versions.{service} is not an object of versions")
        for version, entry in service_versions.items():
            status = entry.get("status") if isinstance(entry, Mapping) else None
            if status not in LIFECYCLES:
                raise LedgerError(
                    f"versions.{service}.{version} has no status of {', '.join(LIFECYCLES)}: "
                    f"{entry!r}"
                )
    copied: dict[str, Any] = json.loads(json.dumps(versions, default=_not_deployed_value))
    return copied


def _not_deployed_value(value: Any) -> Any:
    raise LedgerError(
        f"the versions output holds {type(value).__name__} values; a ledger comes from a "
        "deployment's outputs, not from a preview's"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mlserve ledger [--from FILE] [--out FILE] [--today YYYY-MM-DD]`."""
    parser = argparse.ArgumentParser(
        prog="python -m mlserve ledger",
        description=(
            "Turn `pulumi stack output --json` (or `pulumi stack export`) of the last "
            "deployment into the --policy-pack-config file of the mlserve policy pack."
        ),
    )
    parser.add_argument("--from", dest="source", default="-", help="input file (default: stdin)")
    parser.add_argument("--out", default="-", help="output file (default: stdout)")
    parser.add_argument("--today", help="judge sunsets by this day (YYYY-MM-DD) instead of today")
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.source == "-" else Path(args.source).read_text()
        document = json.loads(text) if text.strip() else {}
        if not isinstance(document, Mapping):
            raise LedgerError("the stack output is not a JSON object")
        config = policy_config_from_stack_output(document, today=args.today)
    except (OSError, json.JSONDecodeError, LedgerError) as error:
        print(f"mlserve ledger: {error}", file=sys.stderr)
        return 2
    rendered = json.dumps(config, indent=2, sort_keys=True) + "\n"
    if args.out == "-":
        sys.stdout.write(rendered)
    else:
        Path(args.out).write_text(rendered)
    return 0
