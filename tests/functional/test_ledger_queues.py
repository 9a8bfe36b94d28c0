"""`mlserve ledger --queue-depths` against SQS (moto): each queue version's entry records how many
messages its work queue holds (visible, in flight, delayed), which the removal policy reads;
without the flag the tool says the ledger cannot know; SQS errors are one line, exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlserve.ledger import main
from mlserve.offline import ProgramRun, run_program
from mlserve.stack_files import stack_config, stack_files, stack_settings
from mlserve_runtime.conventions import QUEUE_SUFFIXES
from tests.conftest import TODAY
from tests.support.queues import moto_sqs

QUEUED = [stack for stack in stack_files() if any(
    v.queue is not None for v in stack_settings(stack).deployed_versions())]  # fmt: skip


@pytest.fixture(scope="module", params=QUEUED)
def deployed(request: pytest.FixtureRequest) -> ProgramRun:
    run = run_program(stack_config(request.param), stack=request.param, today=TODAY)
    assert run.error is None, run.error
    return run


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with moto_sqs(monkeypatch) as client:
        yield client


def output_file(run: ProgramRun, tmp_path: Path, urls: dict[str, dict[str, str]]) -> Path:
    """The run's stack output, its queue URLs those that exist in moto."""
    outputs = json.loads(json.dumps(run.outputs))
    outputs["queues"] = urls
    path = tmp_path / "output.json"
    path.write_text(json.dumps(outputs))
    return path


def test_given_messages_in_queues_when_ledger_made_then_each_depth_is_recorded(
    deployed: ProgramRun, aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN each queue version's queues in SQS: the n-th work queue holding n + 1 messages, each
    # results queue one, each dead-letter queue none
    urls: dict[str, dict[str, str]] = {}
    expected = {}
    for n, key in enumerate(sorted(deployed.outputs["queues"])):
        service, version = key.split("/")
        names = deployed.outputs["versions"][service][version]["surface"]["queue"]
        urls[key] = {kind: aws.create_queue(QueueName=names[kind])["QueueUrl"]
                     for kind in QUEUE_SUFFIXES}  # fmt: skip
        for i in range(n + 1):
            aws.send_message(QueueUrl=urls[key]["work"], MessageBody=json.dumps({"id": str(i)}))
        aws.send_message(QueueUrl=urls[key]["results"], MessageBody="{}")
        expected[(service, version)] = {"work": n + 1, "results": 1, "deadLetter": 0}
    # one of them in flight: received, not yet deleted
    aws.receive_message(QueueUrl=next(iter(urls.values()))["work"], MaxNumberOfMessages=1)
    out = tmp_path / "ledger.json"
    # WHEN the ledger is made with --queue-depths
    code = main(["--from", str(output_file(deployed, tmp_path, urls)), "--queue-depths",
                 "--out", str(out)])  # fmt: skip
    # THEN every queue version's entry holds its depths (in-flight messages count)
    assert code == 0, capsys.readouterr().err
    config = json.loads(out.read_text())
    for settings in config.values():
        versions = settings["ledger"]["versions"]
        found = {(s, v): e["queueMessages"] for s, es in versions.items() for v, e in es.items()
                 if "queueMessages" in e}  # fmt: skip
        assert found == expected


def test_given_no_queue_depths_when_ledger_made_then_the_tool_says_so(
    deployed: ProgramRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "output.json"
    path.write_text(json.dumps(deployed.outputs))
    assert main(["--from", str(path), "--out", str(tmp_path / "l.json")]) == 0
    err = capsys.readouterr().err
    for key in deployed.outputs["queues"]:
        assert key.replace("/", " ") in err
    assert "--queue-depths" in err


def test_given_missing_queue_when_depths_read_then_one_line_and_exit_2(
    deployed: ProgramRun, aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = {key: {kind: f"https://sqs.us-east-1.amazonaws.com/123456789012/gone-{n}-{kind}"
                  for kind in QUEUE_SUFFIXES}
            for n, key in enumerate(deployed.outputs["queues"])}  # fmt: skip
    code = main(["--from", str(output_file(deployed, tmp_path, gone)), "--queue-depths"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("mlserve ledger: --queue-depths: could not read SQS")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
