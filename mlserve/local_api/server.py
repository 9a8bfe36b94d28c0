"""The local API: a stack's versions served on localhost the way API Gateway would, like
`sam local start-api`.

`python -m mlserve serve --stack dev --port 8080 [--host 127.0.0.1] [--today YYYY-MM-DD]
[--access-log FILE]` serves
every non-retired version's routes (the configured ones plus the reserved `GET /health` and
`GET /metadata`) under `/<service>/v<N>`. Each HTTP request becomes an HTTP API payload 2.0 event
and goes to that version's handler; the handler's result goes back the way API Gateway maps a
payload 2.0 response. Unknown routes get `404 {"message":"Not Found"}`, a handler that raises or
dies gets `500 {"message":"Internal Server Error"}` with the trace logged, and the server goes on.
With `--access-log`, each request appends one line in the stage's access-log format
(`ACCESS_LOG_FORMAT`), which `python -m mlserve usage --access-log FILE` reads.

Each version runs in its own worker process (`worker_process.py`), as SAM runs a container
per function: versions share module names (`app`, `contract`, ...) and each needs its own
environment, which is exactly `version.variables` plus the variables
Lambda sets (`AWS_LAMBDA_FUNCTION_NAME`, `AWS_REGION`, ...). A worker serves one request at a time,
like one Lambda execution environment; a worker that dies is started again on the next request.
`--today` moves the handlers' clock (through `mlserve_runtime.clock.set_clock` inside the workers,
never through the function environment) and the events' request time, so lifecycle headers and
the 410 after a sunset can be tried before their day.

Not emulated: IAM authorisation is NOT enforced locally (routes of `auth: iam` services answer
unsigned requests; a SigV4 signature is passed through but never checked), nor throttling, canary
weights, pinned versions, concurrent executions of one version, the Lambda runtime's Python
version or the deployment package (workers run this interpreter and import from its environment).
The HTTP part is werkzeug's threaded development server: never expose it beyond localhost.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from components.settings import INTEGRATION_TIMEOUT_SECONDS, ConfigError, Settings, VersionSettings
from mlserve.local_api.workers import (
    DEFAULT_REGION,
    Worker,
    invocation_context,
    version_worker,
)
from mlserve_runtime.conventions import ACCESS_LOG_EMPTY, ACCESS_LOG_FORMAT
from mlserve_runtime.gateway_events import http_api_event

log = logging.getLogger("mlserve.local_api")

HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})  # set by the gateway
CONTEXT_VARIABLE = re.compile(r"\$context\.[A-Za-z.]+")


def access_log_line(variables: dict[str, str]) -> str:
    """One access-log line as API Gateway writes it: each `$context.x` of the stage's format
    replaced by its value (JSON-escaped), `-` when the request has none."""

    def value(match: re.Match[str]) -> str:
        return json.dumps(variables.get(match.group(0), ACCESS_LOG_EMPTY))[1:-1]

    return CONTEXT_VARIABLE.sub(value, json.dumps(ACCESS_LOG_FORMAT))


@dataclass(frozen=True)
class LocalRoute:
    """One route of the local API and the version that answers it."""

    method: str
    path: str
    version: VersionSettings

    @property
    def route_key(self) -> str:
        """The route key API Gateway puts in the event, e.g. `POST /churn/v2/predict`."""
        return f"{self.method} {self.path}"


def routes(settings: Settings) -> dict[tuple[str, str], LocalRoute]:
    """Every route the stack's API has, keyed by (method, path): deployed versions only."""
    table: dict[tuple[str, str], LocalRoute] = {}
    for service in settings.services.values():
        for version in service.deployed_versions:
            for route in version.all_routes:
                path = f"{version.base_path}{route.path}"
                table[(route.method, path)] = LocalRoute(route.method, path, version)
    return table


def build_event(
    request: Request, route_key: str, *, now: datetime, request_id: str
) -> dict[str, Any]:
    """The HTTP API payload 2.0 event API Gateway would send for this request."""
    # A WSGI environ holds each header once, repeats already joined with commas as API Gateway
    # joins them; payload 2.0 moves cookies out of the headers into `cookies`.
    headers = {name.lower(): value for name, value in request.headers.items()
               if name.lower() != "cookie"}  # fmt: skip
    forwarded = headers.get("x-forwarded-for")
    client_ip = request.remote_addr or "127.0.0.1"
    headers["x-forwarded-for"] = f"{forwarded}, {client_ip}" if forwarded else client_ip
    headers["x-forwarded-port"] = str(request.environ.get("SERVER_PORT", ""))
    headers["x-forwarded-proto"] = request.scheme
    headers.setdefault("host", "localhost")
    cookies = [
        part.strip()
        for header in request.headers.getlist("Cookie")
        for part in header.split(";")
        if part.strip()
    ]
    return http_api_event(
        request.method,
        request.path,
        headers=headers,
        body=request.get_data(cache=False),
        query=request.environ.get("QUERY_STRING", ""),
        cookies=cookies,
        route_key=route_key,
        request_id=request_id,
        now=now,
        source_ip=client_ip,
        protocol=request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
    )


class InvalidLambdaResponseError(ValueError):
    """A handler result API Gateway cannot turn into an HTTP response (it answers 500)."""


def http_response(result: Any, request_id: str) -> Response:
    """The HTTP response API Gateway makes of a payload 2.0 handler result."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # no statusCode: API Gateway assumes 200, application/json and the result as the body
        return _response(
            200, json.dumps(result), [("content-type", "application/json")], request_id
        )
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise InvalidLambdaResponseError(f"statusCode {status!r} is not an HTTP status")
    raw_headers = result.get("headers") or {}
    cookies = result.get("cookies") or []
    if not isinstance(raw_headers, dict) or not isinstance(cookies, list):
        raise InvalidLambdaResponseError("headers must be an object and cookies a list")
    headers = [(str(name), _header_value(value)) for name, value in raw_headers.items()]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    headers.extend(("set-cookie", str(cookie)) for cookie in cookies)
    body = result.get("body")
    if body is None:
        payload = b""
    elif not isinstance(body, str):
        raise InvalidLambdaResponseError(f"body must be a string, not {type(body).__name__}")
    elif result.get("isBase64Encoded") is True:
        try:
            payload = base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise InvalidLambdaResponseError(f"body is not valid base64: {error}") from None
    else:
        payload = body.encode("utf-8")
    return _response(status, payload, headers, request_id)


def _header_value(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if "\n" in text or "\r" in text:
        raise InvalidLambdaResponseError("header values cannot contain line breaks")
    return text


def _response(
    status: int, body: str | bytes, headers: Iterable[tuple[str, str]], request_id: str
) -> Response:
    kept = [(name, value) for name, value in headers if name.lower() not in HOP_HEADERS]
    return Response(body, status=status, headers=[*kept, ("apigw-requestid", request_id)])


def gateway_error(status: int, message: str, request_id: str) -> Response:
    """An error API Gateway answers itself, e.g. `404 {"message":"Not Found"}`."""
    body = json.dumps({"message": message}, separators=(",", ":"))
    return _response(status, body, [("content-type", "application/json")], request_id)


class LocalApi:
    """The local HTTP API for one stack's settings; `start()` it, call it, `stop()` it."""

    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock_offset: timedelta = timedelta(0),
        region: str = DEFAULT_REGION,
        runtime_path: Path | None = None,
        python: str = sys.executable,
        access_log: Path | None = None,
    ) -> None:
        self.settings = settings
        self.access_log = access_log
        self._log_lock = threading.Lock()
        self.host = host
        self.requested_port = port
        self.clock_offset = clock_offset
        self.region = region
        self.routes = routes(settings)
        self.workers: dict[str, Worker] = {
            version.logical_name: version_worker(
                settings, version, region=region, python=python, runtime_path=runtime_path
            )
            for version in settings.deployed_versions()
            if version.source is not None
        }
        self.unserved = {
            version.logical_name: f"{version.service} {version.key} is an image version without "
            "localCode, so it cannot run here; give localCode (the folder whose code its image "
            "holds) to serve it locally"
            for version in settings.deployed_versions()
            if version.source is None
        }
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (after `start()`)."""
        if self._server is None:
            raise RuntimeError("the local API is not started")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:8080`."""
        return f"http://{self.host}:{self.port}"

    def set_today(self, today: date) -> None:
        """Move the handlers' clock so that their today is `today` (time of day kept)."""
        self.clock_offset = today_offset(today)

    def now(self) -> datetime:
        """The current time as the handlers see it."""
        return datetime.now(UTC) + self.clock_offset

    def start(self) -> int:
        """Bind, serve in a background thread, and return the bound port."""
        if self._server is not None:
            return self.port
        self._server = make_server(self.host, self.requested_port, self, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mlserve-local-api", daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop serving, then end every worker."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for worker in self.workers.values():
            worker.stop()

    def __enter__(self) -> LocalApi:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """The WSGI application."""
        response = self.handle(Request(environ))
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        """Answer one request, and log it when the API keeps an access log."""
        request_id = base64.b64encode(uuid.uuid4().bytes[:12]).decode("ascii")
        now, started = self.now(), time.perf_counter()
        route = self.routes.get((request.method, request.path))
        response = self._answer(request, route, request_id, now)
        if self.access_log is not None:
            variables = {
                "$context.requestId": request_id,
                "$context.requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "$context.requestTimeEpoch": str(int(now.timestamp() * 1000)),
                "$context.routeKey": route.route_key if route else ACCESS_LOG_EMPTY,
                "$context.path": request.path,
                "$context.status": str(response.status_code),
                "$context.responseLatency": str(round((time.perf_counter() - started) * 1000)),
                "$context.identity.sourceIp": request.remote_addr or ACCESS_LOG_EMPTY,
                "$context.identity.userAgent": request.headers.get("User-Agent", ACCESS_LOG_EMPTY),
            }  # no identity of a signed caller: IAM is not enforced locally
            with self._log_lock, self.access_log.open("a", encoding="utf-8") as log_file:
                log_file.write(access_log_line(variables) + "\n")
        return response

    def _answer(
        self, request: Request, route: LocalRoute | None, request_id: str, now: datetime
    ) -> Response:
        """Route one request to its version's worker and map the result back."""
        if route is None:
            return gateway_error(404, "Not Found", request_id)
        event = build_event(request, route.route_key, now=now, request_id=request_id)
        version = route.version
        if version.logical_name in self.unserved:
            return gateway_error(501, self.unserved[version.logical_name], request_id)
        worker = self.workers[version.logical_name]
        context = invocation_context(version, worker, self.region)
        outcome = worker.invoke(event, context, self.clock_offset.total_seconds())
        if outcome.timed_out:
            log.error(
                "%s %s: task timed out after %.0f seconds",
                version.logical_name, route.route_key, worker.timeout_seconds,
            )  # fmt: skip
            if version.timeout_seconds > INTEGRATION_TIMEOUT_SECONDS:
                return gateway_error(503, "Service Unavailable", request_id)
            return gateway_error(500, "Internal Server Error", request_id)
        if outcome.exit_code is not None:
            log.error(
                "%s %s: the worker exited with code %s during the invocation",
                version.logical_name, route.route_key, outcome.exit_code,
            )  # fmt: skip
            return gateway_error(500, "Internal Server Error", request_id)
        if outcome.error is not None:
            trace = "".join(outcome.error.get("stackTrace") or [])
            log.error(
                "%s %s: handler raised %s: %s\n%s",
                version.logical_name, route.route_key, outcome.error.get("errorType"),
                outcome.error.get("errorMessage"), trace,
            )  # fmt: skip
            return gateway_error(500, "Internal Server Error", request_id)
        try:
            return http_response(outcome.result, request_id)
        except InvalidLambdaResponseError as error:
            log.error("%s %s: malformed response: %s", version.logical_name, route.route_key, error)
            return gateway_error(500, "Internal Server Error", request_id)


def today_offset(today: date | None) -> timedelta:
    if today is None:
        return timedelta(0)
    return timedelta(days=(today - datetime.now(UTC).date()).days)


def _region(stack: str) -> str:
    from mlserve.stack_files import stack_config

    return stack_config(stack).get("aws:region", DEFAULT_REGION)


def main(argv: Sequence[str]) -> int:
    """Serve a stack's versions on localhost until interrupted."""
    parser = argparse.ArgumentParser(
        prog="mlserve serve",
        description="Serve a stack's model versions locally, like `sam local start-api` "
        "(IAM auth is not enforced).",
    )
    parser.add_argument("--stack", required=True, help="stack name, e.g. dev")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument(
        "--today", type=date.fromisoformat, help="pretend today is YYYY-MM-DD (moves the clock)"
    )
    parser.add_argument(
        "--access-log", type=Path, metavar="FILE",
        help="append each request to FILE in the stage's access-log format (for `mlserve usage`)",
    )  # fmt: skip
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from mlserve.stack_files import stack_files, stack_settings

    if args.stack not in stack_files():
        print(f"unknown stack {args.stack!r}; known: {', '.join(stack_files())}", file=sys.stderr)
        return 2
    try:
        settings = stack_settings(args.stack, today=args.today)
    except ConfigError as error:
        print(f"stack {args.stack}: {error}", file=sys.stderr)
        return 1
    api = LocalApi(
        settings,
        host=args.host,
        port=args.port,
        clock_offset=today_offset(args.today),
        region=_region(args.stack),
        access_log=args.access_log,
    )
    stopping = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    api.start()
    print(f"mlserve local API for stack {args.stack} on {api.url} (IAM auth not enforced)")
    for route in api.routes.values():
        print(f"  {route.method:<6} {api.url}{route.path}  ({route.version.status})")
    for reason in api.unserved.values():
        print(f"  not served: {reason}")
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
    return 0
