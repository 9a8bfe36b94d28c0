"""One worker process of the local API: runs one version's Lambda handler, like a Lambda sandbox.

Started by path (never as part of the `mlserve` package) as
`python -B -u worker_process.py <code dir> <runtime dir> <module.function>` with exactly the
function's environment. Its `sys.path` starts with the code folder and the shared runtime, as in
Lambda, so each version imports its own `app`, `contract`, ...

Protocol: one JSON object per line on stdin, `{"id", "event", "context", "clock_offset"}`,
answered by one line on stdout, `{"id", "result"}` or
`{"id", "error": {"errorType", "errorMessage", "stackTrace"}}`. Anything the handler prints goes
to stderr, the function's log stream, so it never corrupts the protocol.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO

Handler = Callable[[dict[str, Any], Any], Any]


class LambdaContext:
    """The context object a Python Lambda handler receives, filled from the local invocation."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.function_name: str = fields["function_name"]
        self.function_version: str = fields["function_version"]
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: str = fields["memory_limit_in_mb"]
        self.aws_request_id: str = fields["aws_request_id"]
        self.log_group_name: str = fields["log_group_name"]
        self.log_stream_name: str = fields["log_stream_name"]
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline_ms: int = fields["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


class Worker:
    """Loads the handler on the first invocation (a cold start) and keeps it for later ones."""

    def __init__(self, handler: str) -> None:
        self.handler_name = handler
        self._handler: Handler | None = None
        self._clock_offset: float | None = None

    def handler(self) -> Handler:
        """The handler function, imported on first use."""
        if self._handler is None:
            module_name, _, function_name = self.handler_name.rpartition(".")
            module = importlib.import_module(module_name)
            self._handler = getattr(module, function_name)
        return self._handler

    def set_clock_offset(self, offset: float | None) -> None:
        """Move the runtime's clock by `offset` seconds (None or 0: the real clock)."""
        wanted = offset or 0.0
        if wanted == (self._clock_offset or 0.0):
            return
        # found at run time on the worker's sys.path (the shared runtime), not in this package
        clock = importlib.import_module("mlserve_runtime.clock")
        clock.set_clock((lambda: time.time() + wanted) if wanted else None)
        self._clock_offset = wanted

    def invoke(self, message: dict[str, Any]) -> dict[str, Any]:
        """Run one invocation and build its reply; never raises."""
        reply: dict[str, Any] = {"id": message.get("id")}
        try:
            self.set_clock_offset(message.get("clock_offset"))
            result = self.handler()(message["event"], LambdaContext(message["context"]))
            json.dumps(result)  # what Lambda cannot serialise is a function error there too
            reply["result"] = result
        except Exception as error:  # the sandbox reports any handler failure, as Lambda does
            reply["error"] = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error),
            }
        return reply


def _protocol_streams() -> tuple[TextIO, TextIO]:
    """Keep stdin/stdout for the protocol; point fd 0 at /dev/null and fd 1 at stderr."""
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return requests, replies


def main(argv: list[str]) -> int:
    """Serve invocations until stdin closes."""
    code_dir, runtime_dir, handler = argv[1:4]
    # sys.path[0] is this script's folder; Lambda has the code folder and the layer there instead
    sys.path[:1] = [code_dir, runtime_dir]
    requests, replies = _protocol_streams()
    worker = Worker(handler)
    for line in requests:
        if not line.strip():
            continue
        reply = worker.invoke(json.loads(line))
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
