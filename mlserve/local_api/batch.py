"""`python -m mlserve batch --stack dev churn v2 requests.jsonl`: a queue version's batch callers,
tried without AWS. Each line of the file is a work message (`{"id", "request", "replyTo"?}`) or
just a request (its id is then `line-<N>`); they reach the version's handler as SQS batches of
its `queue.batchSize`, in a worker process with exactly the function's environment, and its
results (one JSON object per line, as the results queue would hold them) go to stdout or
`--out`. A message the handler reports as failed is received again, up to the queue's
maxReceiveCount, then counted as a dead letter, as SQS would move it to the dead-letter queue.
Exit 0 when every message got a result, 1 with dead letters, 2 on bad input."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from components.settings import ConfigError, Settings, VersionSettings
from mlserve.local_api.server import today_offset
from mlserve.local_api.workers import (
    DEFAULT_REGION,
    Worker,
    invocation_context,
    local_results_queue,
    version_worker,
)
from mlserve_runtime.queue_events import queue_arn, sqs_record


@dataclass
class Summary:
    """What a batch run did."""

    messages: int = 0
    results: int = 0
    problems: int = 0
    dead_letters: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    handler_error: str | None = None
    """The first invocation that failed as a whole, as Lambda would log it."""


def messages(lines: Iterator[str]) -> Iterator[str]:
    """Each non-blank line as a work message body: a bare request gets `{"id": "line-N"}`."""
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            parsed = json.loads(text)
        except ValueError:
            yield text  # as a caller could send it; the version answers with a problem
            continue
        if isinstance(parsed, dict) and "request" not in parsed:
            yield json.dumps({"id": f"line-{number}", "request": parsed})
        else:
            yield text


def run_batches(
    settings: Settings,
    version: VersionSettings,
    bodies: list[str],
    out: TextIO,
    today: date | None = None,
    region: str = DEFAULT_REGION,
    worker: Worker | None = None,
) -> Summary:
    """Feed `bodies` to the version in its batches (through `worker`, by default the version's
    worker process, its log discarded); write each result to `out`."""
    assert version.queue is not None
    results = local_results_queue(settings, version)
    results.parent.mkdir(parents=True, exist_ok=True)
    worker = worker or version_worker(settings, version, region=region, log=subprocess.DEVNULL)
    source = queue_arn(version.queue_name("work"), region)
    summary = Summary(messages=len(bodies))
    pending = [(sqs_record(body, source, message_id=f"message-{n}"), body)
               for n, body in enumerate(bodies)]  # fmt: skip
    receives = dict.fromkeys((record["messageId"] for record, _ in pending), 0)
    try:
        while pending:
            batch, pending = (
                pending[: version.queue.batch_size],
                pending[version.queue.batch_size :],
            )
            for record, _ in batch:
                receives[record["messageId"]] += 1
                record["attributes"]["ApproximateReceiveCount"] = str(receives[record["messageId"]])
            results.write_text("")
            invocation = worker.invoke(
                {"Records": [record for record, _ in batch]},
                invocation_context(version, worker, region),
                today_offset(today).total_seconds(),
            )
            if invocation.ok:
                failed = _failed(invocation.result, [r for r, _ in batch])
            else:
                failed = {record["messageId"] for record, _ in batch}
                error = invocation.error or {}
                summary.handler_error = summary.handler_error or (
                    f"{error.get('errorType')}: {error.get('errorMessage')}" if error
                    else "timed out" if invocation.timed_out
                    else f"the worker exited with code {invocation.exit_code}"
                )  # fmt: skip
            for line in results.read_text().splitlines():
                sent = json.loads(line)
                result = json.loads(sent["body"])
                summary.results += "response" in result
                summary.problems += "problem" in result
                summary.attributes.update(
                    {k: v["StringValue"] for k, v in (sent.get("attributes") or {}).items()}
                )
                out.write(json.dumps(result) + "\n")
            for record, body in batch:
                if record["messageId"] not in failed:
                    continue
                if receives[record["messageId"]] >= version.queue.max_receive_count:
                    summary.dead_letters.append(body)
                else:
                    pending.append((record, body))
    finally:
        worker.stop()
    return summary


def _failed(answer: Any, batch: list[dict[str, Any]]) -> set[str]:
    """The message ids a partial batch response reports, read as Lambda reads it: nothing, null
    or an empty object is success; an id it cannot match fails the whole batch."""
    ids = {record["messageId"] for record in batch}
    if answer in (None, "", {}) or (isinstance(answer, dict) and
                                    answer.get("batchItemFailures") is None):  # fmt: skip
        return set()
    items = answer.get("batchItemFailures") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        return ids
    if not all(isinstance(item, dict) for item in items):
        return ids
    reported = {str(item.get("itemIdentifier")) for item in items}
    return reported if reported <= ids else ids


def main(argv: Sequence[str]) -> int:
    """Run a file of requests through a queue version locally."""
    parser = argparse.ArgumentParser(
        prog="mlserve batch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", required=True, help="stack name, e.g. dev")
    parser.add_argument("service", help="service key, e.g. churn")
    parser.add_argument("version", help="version key, e.g. v2")
    parser.add_argument("requests", type=Path, help="a JSON-lines file of messages or requests")
    parser.add_argument("--out", type=Path, help="write the results here (default: stdout)")
    parser.add_argument(
        "--today", type=date.fromisoformat, help="pretend today is YYYY-MM-DD (moves the clock)"
    )
    args = parser.parse_args(list(argv))
    from mlserve.stack_files import stack_config, stack_files, stack_settings

    if args.stack not in stack_files():
        return _bad(f"unknown stack {args.stack!r}; known: {', '.join(stack_files())}")
    try:
        settings = stack_settings(args.stack, today=args.today)
    except ConfigError as error:
        return _bad(f"stack {args.stack}: {error}")
    service = settings.services.get(args.service)
    version = service.versions.get(args.version) if service else None
    if version is None:
        known = ", ".join(f"{v.service} {v.key}" for v in settings.deployed_versions() if v.queue)
        return _bad(f"{args.service} {args.version} is not a version of stack {args.stack}; "
                    f"its queue versions: {known or 'none'}")  # fmt: skip
    if not version.deployed or version.queue is None:
        what = "is retired" if not version.deployed else "has no queue"
        where = f"mlserve:services.{version.service}.versions.{version.key}"
        return _bad(f"{version.service} {version.key} {what} in stack {args.stack}; add "
                    f"`queue: {{}}` to {where}")  # fmt: skip
    try:
        bodies = list(messages(iter(args.requests.read_text().splitlines())))
    except (OSError, UnicodeDecodeError) as error:
        return _bad(f"{args.requests}: {error}")
    try:
        out = args.out.open("w") if args.out else sys.stdout
    except OSError as error:
        return _bad(f"--out {args.out}: {error.strerror or error}")
    region = stack_config(args.stack).get("aws:region", DEFAULT_REGION)
    try:
        summary = run_batches(settings, version, bodies, out, args.today, region)
    except BrokenPipeError:  # the reader left (`| head`): stop quietly, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        if args.out:
            out.close()
    if summary.handler_error:
        print(f"mlserve batch: the handler failed: {summary.handler_error}", file=sys.stderr)
    lifecycle = "".join(f"; {k}: {v}" for k, v in summary.attributes.items())
    print(
        f"{version.service} {version.key} ({args.stack}): {summary.messages} message(s), "
        f"{summary.results} result(s), {summary.problems} problem(s), "
        f"{len(summary.dead_letters)} dead letter(s){lifecycle}",
        file=sys.stderr,
    )
    return 1 if summary.dead_letters else 0


def _bad(message: str) -> int:
    print(f"mlserve batch: {message}", file=sys.stderr)
    return 2
