"""`python -m mlserve batch`: every queue version of every stack answers a file of requests
through its worker process in SQS batches, the same answers as its HTTP route; failures are
received again up to maxReceiveCount, then dead letters; bad input is one line, exit 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from components.settings import VersionSettings
from mlserve.local_api.batch import main, run_batches
from mlserve.local_api.workers import Invocation
from mlserve.offline import PROJECT_ROOT
from mlserve.stack_files import stack_files, stack_settings
from tests.conftest import TODAY
from tests.support.queues import queue_example, queue_ids, queue_versions

QUEUED = queue_versions(TODAY)
IDS = queue_ids(QUEUED)


@pytest.mark.parametrize(("stack", "version"), QUEUED, ids=IDS)
def test_given_requests_file_when_batched_locally_then_each_line_has_its_result(
    stack: str, version: VersionSettings, tmp_path: Path
) -> None:
    assert version.queue is not None
    request = queue_example(version)
    count = version.queue.batch_size + 2  # more than one batch
    lines = [json.dumps(request)] * count + [json.dumps({"id": "own", "request": request}), "{"]
    requests, out = tmp_path / "requests.jsonl", tmp_path / "results.jsonl"
    requests.write_text("\n".join(lines) + "\n\n")
    # WHEN run as a user runs it, in its own process
    done = subprocess.run(
        [sys.executable, "-m", "mlserve", "batch", "--stack", stack, version.service, version.key,
         str(requests), "--out", str(out), "--today", TODAY],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    by_id = {r["id"]: r for r in results}
    assert len(results) == len(lines)
    assert {f"line-{n}" for n in range(1, count + 1)} | {"own", None} == set(by_id)
    answers = {json.dumps(r["response"], sort_keys=True) for r in results if "response" in r}
    assert len(answers) == 1  # the same request, the same answer, whatever its batch
    assert by_id[None]["problem"]["status"] == 400
    assert f"{count + 1} result(s), 1 problem(s), 0 dead letter(s)" in done.stderr
    assert ("Deprecation" in done.stderr) == (version.status == "deprecated")


class FlakyWorker:
    """A worker whose handler reports the messages in `failing` as failed, every time."""

    def __init__(self, failing: set[str]) -> None:
        self.failing, self.batches = failing, 0
        self.environment = {"AWS_LAMBDA_LOG_STREAM_NAME": "local"}
        self.timeout_seconds = 3

    def invoke(self, event: dict[str, Any], context: Any, offset: float) -> Invocation:
        self.batches += 1
        failed = [r["messageId"] for r in event["Records"] if r["body"] in self.failing]
        return Invocation(result={"batchItemFailures": [{"itemIdentifier": m} for m in failed]})

    def stop(self) -> None:
        pass


@pytest.mark.parametrize(("stack", "version"), QUEUED[:1], ids=IDS[:1])
def test_given_a_message_that_keeps_failing_when_batched_then_it_is_a_dead_letter(
    stack: str, version: VersionSettings
) -> None:
    assert version.queue is not None
    settings = stack_settings(stack, today=date.fromisoformat(TODAY))
    worker = FlakyWorker({"bad"})
    summary = run_batches(settings, version, ["bad", "good"], io.StringIO(), worker=worker)  # type: ignore[arg-type]
    assert summary.dead_letters == ["bad"]
    assert worker.batches == version.queue.max_receive_count  # received that often, then moved


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--stack", "nope", "churn", "v2", "f.jsonl"], "unknown stack 'nope'"),
        (["--stack", "dev", "churn", "v9", "f.jsonl"], "churn v9 is not a version"),
        (["--stack", "dev", "churn", "v2", "missing.jsonl"], "missing.jsonl"),
    ],
)
def test_given_bad_input_when_batched_then_one_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1


def test_given_version_without_queue_when_batched_then_told_how_to_add_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stack, plain = next(
        (stack, v) for stack in stack_files() for v in stack_settings(stack).deployed_versions()
        if v.queue is None
    )  # fmt: skip
    assert main(["--stack", stack, plain.service, plain.key, "f.jsonl"]) == 2
    assert f"mlserve:services.{plain.service}.versions.{plain.key}" in capsys.readouterr().err


def test_given_lambdas_partial_batch_response_rules_then_local_retries_follow_them() -> None:
    from mlserve.local_api.batch import _failed

    batch = [{"messageId": "a"}, {"messageId": "b"}]
    assert _failed(None, batch) == _failed({}, batch) == _failed("", batch) == set()
    assert _failed({"batchItemFailures": []}, batch) == set()
    assert _failed({"batchItemFailures": [{"itemIdentifier": "b"}]}, batch) == {"b"}
    # an id that is not in the batch fails the whole batch, as Lambda does
    assert _failed({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, batch) == {"a", "b"}
    assert _failed({"batchItemFailures": "oops"}, batch) == {"a", "b"}


def test_given_unwritable_out_when_batched_then_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack, version = QUEUED[0]
    requests = tmp_path / "r.jsonl"
    requests.write_text("{}\n")
    argv = ["--stack", stack, version.service, version.key, str(requests),
            "--out", str(tmp_path / "missing-folder" / "out.jsonl")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "Traceback" not in err


class BrokenWorker(FlakyWorker):
    """A worker whose handler cannot start (a DeploymentError at cold start)."""

    def invoke(self, event: dict[str, Any], context: Any, offset: float) -> Invocation:
        self.batches += 1
        return Invocation(error={"errorType": "DeploymentError", "errorMessage": "no queue URL"})


def test_given_a_handler_that_cannot_start_when_batched_then_the_reason_is_told() -> None:
    stack, version = QUEUED[0]
    settings = stack_settings(stack, today=date.fromisoformat(TODAY))
    summary = run_batches(settings, version, ["x"], io.StringIO(), worker=BrokenWorker(set()))  # type: ignore[arg-type]
    assert summary.handler_error == "DeploymentError: no queue URL"
    assert summary.dead_letters == ["x"]
