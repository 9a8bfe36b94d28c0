"""Batch throughput: messages per second through a queue version's real handler (in process, an
SQS event of N records, results sent through the runtime's SQS sender to a client that accepts
every entry without a network) against the floor, a bare loop that parses the same requests
with the version's request model and calls its predict function. Batch sizes 1, 10 and 100,
every queue version of every stack, in blocks that alternate order; medians of the blocks.

What the handler does beyond the floor: the event check, the message envelope (id, replyTo),
the response model's JSON, the result envelope, SendMessageBatch entries, one EMF line per
outcome and one log line per batch (written to /dev/null, as Lambda writes them to its log).

Target: at batch size 10, >= 80% of the floor's messages per second. Also shown, no target: the
floor plus the answer's JSON (`model_dump_json`), which every batch consumer needs to send it.

Run: .venv/bin/python bench/batch_throughput.py [--blocks 15] [--messages 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "runtime")]

from components.settings import VersionSettings  # noqa: E402
from mlserve.stack_files import stack_files, stack_settings  # noqa: E402
from mlserve_runtime.queue_events import queue_arn, sqs_event  # noqa: E402
from tests.support.events import load_handler  # noqa: E402

BATCH_SIZES = (1, 10, 100)
TARGET_SIZE, TARGET_SHARE = 10, 0.80


class AcceptingSqs:
    """SendMessageBatch that accepts every entry, with no network."""

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """stdout and stderr to /dev/null, as real writes (Lambda's log is a pipe)."""
    sys.stdout.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def subjects() -> list[tuple[str, VersionSettings]]:
    return [(stack, v) for stack in stack_files() for v in stack_settings(stack).deployed_versions()
            if v.queue is not None]  # fmt: skip


def loaded(
    version: VersionSettings,
) -> tuple[Callable[..., Any], Callable[[str], Any], Callable[[str], Any]]:
    """(the handler, the floor's per-request call, the floor with the answer's JSON)."""
    url = f"https://sqs.us-east-1.amazonaws.com/123456789012/{version.queue_name('results')}"
    env = {**version.variables, **version.queue_variables(url)}
    module = load_handler(version.service, version.key, env)
    sys.path.insert(0, str(version.source))
    try:  # the version's own contract and predict, as its app module bound them
        route = version.queue_route
        assert route is not None and version.surface is not None
        request_model = getattr(module.contract, version.surface["routes"][route.key]["request"])
        predict = module.predict
    finally:
        sys.path.remove(str(version.source))

    def floor(body: str) -> Any:
        return predict(request_model.model_validate_json(body))

    def floor_json(body: str) -> Any:
        return predict(request_model.model_validate_json(body)).model_dump_json()

    return module.handler, floor, floor_json


def measure(blocks: int, messages: int) -> list[tuple[str, int, float, float, float]]:
    boto3: Any = importlib.import_module("boto3")
    boto3.client = lambda *args, **kwargs: AcceptingSqs()  # the sender's client, no network
    rows: list[tuple[str, int, float, float, float]] = []
    for stack, version in subjects():
        handler, floor_call, json_call = loaded(version)
        route = version.queue_route
        assert route is not None and version.surface is not None
        request = version.surface["routes"][route.key]["example"]
        body = json.dumps(request)
        message = json.dumps({"id": "m", "request": request})
        for size in BATCH_SIZES:
            events = [sqs_event([message] * size, queue_arn(version.queue_name("work")))
                      for _ in range(max(1, messages // size))]  # fmt: skip
            count = len(events) * size
            bodies = [body] * count
            ours: list[float] = []
            floor: list[float] = []
            floor_json: list[float] = []
            with quiet():
                handler(events[0], None)  # the first batch imports boto3's stand-in
                for block in range(blocks):
                    order = (0, 1, 2) if block % 2 == 0 else (2, 1, 0)
                    for which in order:
                        started = time.perf_counter()
                        if which == 0:
                            for event in events:
                                answer = handler(event, None)
                                assert not answer["batchItemFailures"]
                        else:
                            call = floor_call if which == 1 else json_call
                            for text in bodies:
                                call(text)
                        rate = count / (time.perf_counter() - started)
                        (ours, floor, floor_json)[which].append(rate)
            label = f"{stack} {version.service} {version.key}"
            medians = [statistics.median(rates) for rates in (ours, floor, floor_json)]
            rows.append((label, size, medians[0], medians[1], medians[2]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--messages", type=int, default=2000, help="messages per block")
    args = parser.parse_args()
    rows = measure(args.blocks, args.messages)
    print(f"batch throughput, {args.blocks} blocks of ~{args.messages} messages, medians "
          "(messages per second)")  # fmt: skip
    print(f"{'version':<28} {'batch':>5} {'handler':>10} {'floor':>10} {'share':>7} "
          f"{'floor+JSON':>11} {'share':>7}")  # fmt: skip
    missed = []
    for label, size, ours, floor, floor_json in rows:
        share = ours / floor
        mark = f" {floor_json:>11.0f} {ours / floor_json:>6.0%}"
        if size == TARGET_SIZE:
            mark += "  target met" if share >= TARGET_SHARE else "  target missed"
            if share < TARGET_SHARE:
                missed.append(label)
        print(f"{label:<28} {size:>5} {ours:>10.0f} {floor:>10.0f} {share:>6.0%}{mark}")
    print(
        f"target: at batch size {TARGET_SIZE}, >= {TARGET_SHARE:.0%} of the floor"
        + (f"; missed by {', '.join(missed)}" if missed else "; met by every queue version")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
