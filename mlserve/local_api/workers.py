"""One version's worker process, like a Lambda execution environment: started on demand with
exactly the function's environment, one invocation at a time, started again after it dies."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from components.settings import INTEGRATION_TIMEOUT_SECONDS, Settings, VersionSettings
from mlserve_runtime.gateway_events import ACCOUNT_ID

log = logging.getLogger("mlserve.local_api")

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker_process.py"
DEFAULT_REGION = "us-east-1"
INIT_SECONDS = 10  # Lambda's budget for a cold start's imports, on top of the function timeout


@dataclass(frozen=True)
class Invocation:
    """How one invocation of a worker ended: a result, a handler error, a timeout or a death."""

    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the handler returned a result."""
        return self.error is None and not self.timed_out and self.exit_code is None


def lambda_environment(
    settings: Settings, version: VersionSettings, region: str = DEFAULT_REGION
) -> dict[str, str]:
    """A worker's whole environment: the function's variables plus those Lambda itself sets."""
    stream = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
    return {
        **version.variables,
        "AWS_LAMBDA_FUNCTION_NAME": version.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(version.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{version.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{version.runtime}",
        "LAMBDA_TASK_ROOT": str(version.source),
        "_HANDLER": version.handler,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        **version.queue_variables(local_results_queue(settings, version).as_uri()),
    }


def local_results_queue(settings: Settings, version: VersionSettings) -> Path:
    """The local stand-in for a version's results queue: a JSON-lines file under build/."""
    return (settings.project_root / "build" / "local-queues" / settings.stack /
            f"{version.queue_name('results')}.jsonl").resolve()  # fmt: skip


class Worker:
    """One version's worker process, started on demand and again after it dies."""

    def __init__(
        self,
        version: VersionSettings,
        command: Sequence[str],
        environment: Mapping[str, str],
        timeout_seconds: float,
        log: int | None = None,
    ) -> None:
        self.version = version
        self.log = log
        """Where the handler's log lines go: None for this process's stderr, or a file number
        such as subprocess.DEVNULL."""
        self.command = list(command)
        self.environment = dict(environment)
        self.timeout_seconds = timeout_seconds
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._next_id = 0
        self.starts = 0

    @property
    def pid(self) -> int | None:
        """The process id of the running worker, if one runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def invoke(
        self, event: dict[str, Any], context: dict[str, Any], clock_offset: float
    ) -> Invocation:
        """Send one event to the handler and wait for its answer, at most the timeout."""
        with self._lock:
            cold = self._process is None or self._process.poll() is not None
            process = self._running()
            self._next_id += 1
            message = {
                "id": self._next_id,
                "event": event,
                "context": context,
                "clock_offset": clock_offset,
            }
            try:
                assert process.stdin is not None
                process.stdin.write(json.dumps(message) + "\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError):
                return Invocation(exit_code=process.wait())
            try:
                budget = self.timeout_seconds + (INIT_SECONDS if cold else 0)
                line = self._replies.get(timeout=budget)
            except queue.Empty:
                self._kill(process)
                return Invocation(timed_out=True)
            if line is None:
                return Invocation(exit_code=process.wait())
            reply = json.loads(line)
            if "error" in reply:
                return Invocation(error=reply["error"])
            return Invocation(result=reply.get("result"))

    def stop(self) -> None:
        """End the worker: close its stdin, then kill it if it does not exit."""
        with self._lock:
            if self._process is not None:
                self._close(self._process)
                self._process = None

    def _running(self) -> subprocess.Popen[str]:
        process = self._process
        if process is not None and process.poll() is None:
            return process
        if process is not None:
            log.warning(
                "%s worker (pid %d) exited with code %s; starting a new one",
                self.version.logical_name, process.pid, process.returncode,
            )  # fmt: skip
            self._close(process)
        self._replies = queue.Queue()
        process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=self.environment,
            stderr=self.log,
            cwd=str(self.version.source),
            text=True,
            encoding="utf-8",
        )
        assert process.stdout is not None
        threading.Thread(
            target=_read_lines, args=(process.stdout, self._replies), daemon=True,
            name=f"{self.version.logical_name}-reader",
        ).start()  # fmt: skip
        self._process = process
        self.starts += 1
        return process

    def _kill(self, process: subprocess.Popen[str]) -> None:
        process.kill()
        self._close(process)

    @staticmethod
    def _close(process: subprocess.Popen[str]) -> None:
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _read_lines(stream: IO[str], replies: queue.Queue[str | None]) -> None:
    try:
        for line in stream:
            replies.put(line)
    except (OSError, ValueError):
        pass  # the stream was closed while the worker was being stopped
    replies.put(None)


def version_worker(
    settings: Settings,
    version: VersionSettings,
    *,
    region: str = DEFAULT_REGION,
    python: str = sys.executable,
    runtime_path: Path | None = None,
    log: int | None = None,
) -> Worker:
    """The worker process of one deployed version, with the function's environment."""
    runtime = runtime_path or settings.project_root / "services" / "runtime"
    command = [python, "-B", "-u", str(WORKER_SCRIPT), str(version.source), str(runtime)]
    return Worker(
        version,
        [*command, version.handler],
        lambda_environment(settings, version, region),
        min(version.timeout_seconds, INTEGRATION_TIMEOUT_SECONDS),
        log,
    )


def invocation_context(version: VersionSettings, worker: Worker, region: str) -> dict[str, Any]:
    """The Lambda context of one invocation of `version` through its alias."""
    return {
        "function_name": version.function_name,
        "function_version": "$LATEST",
        "invoked_function_arn": f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:"
        f"{version.function_name}:{version.alias_name}",
        "memory_limit_in_mb": str(version.memory_mb),
        "aws_request_id": str(uuid.uuid4()),
        "log_group_name": f"/aws/lambda/{version.function_name}",
        "log_stream_name": worker.environment["AWS_LAMBDA_LOG_STREAM_NAME"],
        "deadline_ms": int((datetime.now(UTC).timestamp() + worker.timeout_seconds) * 1000),
    }
