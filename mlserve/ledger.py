"""The ledger of the last deployment, as the policy pack config that `pulumi preview --policy-pack
policies --policy-pack-config FILE` takes: what the deployed stack promised its callers (its
`versions` and `deployment` outputs), given to every policy that judges the next deployment by it.

`python -m mlserve ledger --from <pulumi stack output --json>` builds it; `--new-stack` (instead
of `--from`) says the stack was never deployed, the only case in which there is no ledger.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from mlserve_runtime.conventions import (
    LEDGER_POLICIES,
    LEDGER_VERSION,
    LIFECYCLES,
    PROMOTION_POLICY,
    QUEUE_SUFFIXES,
)

STACK_TYPE = "pulumi:pulumi:Stack"
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"


class LedgerError(ValueError):
    """Stack output that cannot be turned into a ledger; the message says why."""


def ledger_from_stack_output(stack_output: Mapping[str, Any]) -> dict[str, Any]:
    """The ledger in `pulumi stack output --json` (or `pulumi stack export`) of a deployment."""
    outputs = _outputs(stack_output)
    if "versions" not in outputs:
        raise LedgerError(
            "the stack output has no `versions`: it is not the output of an mlserve deployment "
            "(for a stack that was never deployed, use --new-stack)"
        )
    ledger: dict[str, Any] = {"versions": _checked_versions(outputs["versions"])}
    facts = outputs.get("deployment")
    if isinstance(facts, Mapping):
        ledger.update(json.loads(json.dumps(facts, default=_not_deployed_value)))
    ledger.setdefault("ledgerVersion", 1 if facts is None else LEDGER_VERSION)
    return ledger


def policy_config(
    ledger: Mapping[str, Any] | None, *, today: str | None = None
) -> dict[str, dict[str, Any]]:
    """The pack config: the ledger for every ledger policy, or `newStack` when there is none."""
    settings: dict[str, Any] = (
        {"ledger": dict(ledger)} if ledger is not None else {"newStack": True}
    )
    if today is not None:
        try:
            date.fromisoformat(today)
        except ValueError:
            raise LedgerError(f"today {today!r} is not a YYYY-MM-DD date") from None
        settings["today"] = today
    return {name: dict(settings) for name in LEDGER_POLICIES}


def policy_config_from_stack_output(
    stack_output: Mapping[str, Any], today: str | None = None
) -> dict[str, dict[str, Any]]:
    """The pack config judging the next deployment by the one `stack_output` comes from."""
    return policy_config(ledger_from_stack_output(stack_output), today=today)


def promotion_ledger(path: Path) -> dict[str, Any]:
    """The ledger of the stack another is promoted from, read from its `pulumi stack output
    --json` or from a ledger file `mlserve ledger` wrote."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise LedgerError(f"--promote-from {path}: {error}") from None
    if looks_like_stack_output(document):
        return ledger_from_stack_output(document)
    settings = document.get(LEDGER_POLICIES[0]) if isinstance(document, Mapping) else None
    ledger = settings.get("ledger") if isinstance(settings, Mapping) else None
    if not isinstance(ledger, Mapping):
        raise LedgerError(
            f"--promote-from {path}: neither `pulumi stack output --json` of an mlserve stack nor "
            "a ledger file of `mlserve ledger --from`"
        )
    return dict(ledger)


def with_promotion(config: Mapping[str, Any], ledger: Mapping[str, Any]) -> dict[str, Any]:
    """A pack config that also gives the promotion policy the other stack's ledger."""
    return {**config, PROMOTION_POLICY: {"promoteFrom": dict(ledger)}}


def looks_like_stack_output(document: Any) -> bool:
    """Whether a file given as a policy pack config is raw `pulumi stack output` instead."""
    return (
        isinstance(document, Mapping)
        and "versions" in document
        and not (set(document) & set(LEDGER_POLICIES))
    )


QUEUE_DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def with_queue_depths(
    ledger: Mapping[str, Any], stack_output: Mapping[str, Any], sqs: Any
) -> dict[str, Any]:
    """The ledger with `queueMessages` on every version that has queues: what each holds now
    (visible, in flight and delayed) by kind, so the pack refuses to delete one that is not
    empty."""
    urls = _outputs(stack_output).get("queues") or {}
    versions = json.loads(json.dumps(ledger["versions"]))
    for service, version, entry in _queue_versions(versions):
        found = urls.get(f"{service}/{version}") or {}
        depths = {}
        for kind in QUEUE_SUFFIXES:
            url = found.get(kind)
            if not isinstance(url, str):
                raise LedgerError(f"the stack output's `queues` has no {kind} queue URL for "
                                  f"{service}/{version}")  # fmt: skip
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=QUEUE_DEPTH_ATTRIBUTES
            )["Attributes"]
            depths[kind] = sum(int(attributes.get(a, 0)) for a in QUEUE_DEPTH_ATTRIBUTES)
            # a surface from before the dead-letter queue was recorded gets its name
            entry["surface"]["queue"].setdefault(kind, url.rstrip("/").rsplit("/", 1)[-1])
        entry["queueMessages"] = depths
    return {**ledger, "versions": versions}


def unknown_queue_depths(ledger: Mapping[str, Any]) -> list[str]:
    """The versions with queues whose depths the ledger does not record."""
    return [
        f"{service} {version}"
        for service, version, entry in _queue_versions(ledger.get("versions") or {})
        if "queueMessages" not in entry
    ]


def _queue_versions(versions: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(service, version, entry) of every ledger entry whose surface has queues."""
    for service, entries in versions.items():
        for version, entry in entries.items():
            if isinstance((entry.get("surface") or {}).get("queue"), Mapping):
                yield service, version, entry


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


def _checked_versions(versions: Any) -> dict[str, Any]:
    """The `versions` output, unchanged, once it has the shape the policies read."""
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
        f"the stack output holds {type(value).__name__} values; a ledger comes from a "
        "deployment's outputs, not from a preview's"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mlserve ledger (--from FILE | --new-stack) [--out FILE] [--today YYYY-MM-DD]`."""
    parser = argparse.ArgumentParser(
        prog="mlserve ledger",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", help="stack output file ('-': stdin)")
    source.add_argument(
        "--new-stack", action="store_true", help="the stack was never deployed: no ledger"
    )
    parser.add_argument("--out", default="-", help="output file (default: stdout)")
    parser.add_argument("--today", help="judge dates by this day (YYYY-MM-DD) instead of today")
    parser.add_argument(
        "--promote-from", type=Path, metavar="FILE",
        help="the stack output (or ledger) of the stack this one is promoted from",
    )  # fmt: skip
    parser.add_argument(
        "--queue-depths", action="store_true",
        help="record how many messages each work queue holds (reads SQS with boto3), so the "
        "pack refuses to delete a queue that has not drained",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        ledger = None
        if not args.new_stack:
            text = sys.stdin.read() if args.source == "-" else Path(args.source).read_text()
            document = json.loads(text) if text.strip() else {}
            if not isinstance(document, Mapping):
                raise LedgerError("the stack output is not a JSON object")
            ledger = ledger_from_stack_output(document)
            if args.queue_depths:
                ledger = with_queue_depths(ledger, document, _sqs_client())
            elif unknown := unknown_queue_depths(ledger):
                print(
                    f"mlserve ledger: note: the ledger does not say whether the queues (work, "
                    f"results, dead letters) of {', '.join(unknown)} still hold messages, so the "
                    "pack cannot refuse a deployment that deletes one with messages in it; pass "
                    "--queue-depths before retiring a queue version",
                    file=sys.stderr,
                )
        config: dict[str, Any] = policy_config(ledger, today=args.today)
        if args.promote_from is not None:
            config = with_promotion(config, promotion_ledger(args.promote_from))
    except (OSError, json.JSONDecodeError, LedgerError) as error:
        print(f"mlserve ledger: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # botocore's: no credentials, no such queue, no network
        if type(error).__module__.split(".")[0] != "botocore":
            raise
        print(f"mlserve ledger: --queue-depths: could not read SQS: {error}", file=sys.stderr)
        return 2
    rendered = json.dumps(config, indent=2, sort_keys=True) + "\n"
    if args.out == "-":
        sys.stdout.write(rendered)
    else:
        Path(args.out).write_text(rendered)
    return 0


def _sqs_client() -> Any:
    import boto3

    return boto3.client("sqs")
