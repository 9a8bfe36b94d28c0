"""The local API over real HTTP: routing, the payload 2.0 event, the response mapping, crashes."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import re
import select
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from components.settings import Settings, parse_settings
from mlserve.local_api import LocalApi, main
from mlserve.offline import PROJECT_ROOT
from tests.support.events import http_api_event

RUNTIME = PROJECT_ROOT / "services" / "runtime"
TODAY = date(2026, 11, 27)
ROUTES = ["POST /echo", "GET /echo", "PUT /echo", "POST /respond", "POST /crash", "POST /exit",
          "POST /sleep"]  # fmt: skip
# A probe handler: echoes what it was given, or misbehaves on purpose, depending on the route.
PROBE_APP = textwrap.dedent(
    """
    import json, os, sys, time

    import marker


    def handler(event, context):
        route = event["rawPath"].rsplit("/", 1)[-1]
        if route == "crash":
            raise RuntimeError("deliberate crash for the test")
        if route == "exit":
            os._exit(3)
        if route == "sleep":
            time.sleep(120)
        if route == "respond":
            return json.loads(event["body"])
        print("a handler print must not break the worker protocol")
        from mlserve_runtime import clock

        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps({
                "event": event, "environ": dict(os.environ), "sys_path": sys.path[:2],
                "cwd": os.getcwd(), "pid": os.getpid(), "marker": marker.VALUE,
                "clock": clock.now(), "function_name": context.function_name,
                "memory": context.memory_limit_in_mb, "arn": context.invoked_function_arn,
                "remaining_ms": context.get_remaining_time_in_millis(),
            }),
        }
    """
)


def probe_settings(root: Path) -> Settings:
    """A stack with one probe service: v1 retired, v2 deprecated (own env var), v3 active."""
    for version in ("v2", "v3"):
        folder = root / "services" / "probe" / version
        folder.mkdir(parents=True)
        (folder / "app.py").write_text(PROBE_APP)
        (folder / "marker.py").write_text(f"VALUE = {version!r}\n")
    raw = {
        "environment": "local",
        "namePrefix": "t-",
        "services": {
            "probe": {
                "routes": ROUTES,
                "memoryMb": 256,
                "versions": {
                    "v1": {"status": "retired", "deprecatedOn": "2025-01-01",
                           "sunsetOn": "2025-12-31", "successor": "v3"},
                    "v2": {"code": "services/probe/v2", "status": "deprecated",
                           "deprecatedOn": "2026-09-01", "sunsetOn": "2027-06-30",
                           "successor": "v3", "environment": {"GREETING": "hello"}},
                    "v3": {"code": "services/probe/v3", "status": "active", "timeoutSeconds": 2},
                },
            }
        },
    }  # fmt: skip
    return parse_settings(raw, stack="local", project_root=root, today=TODAY)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """The probe stack served once for the module on a free port."""
    settings = probe_settings(tmp_path_factory.mktemp("project"))
    local = LocalApi(settings, runtime_path=RUNTIME)
    local.start()
    yield local
    local.stop()


def call(
    api: LocalApi,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One raw HTTP exchange (http.client, so repeated request headers are possible)."""
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers or []:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def echo(api: LocalApi, version: str = "v3", **kwargs: Any) -> dict[str, Any]:
    """What the probe handler of a version saw for one request."""
    method = kwargs.pop("method", "POST")
    status, _, body = call(api, method, f"/probe/{version}/echo{kwargs.pop('query', '')}",
                           **kwargs)  # fmt: skip
    assert status == 200, body
    return dict(json.loads(body))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("GET", "/probe/v3/predict"),  # a route the stack does not configure
        ("DELETE", "/probe/v3/echo"),  # a configured path, another method
        ("POST", "/probe/v1/echo"),  # a retired version has no routes
        ("POST", "/probe/v3/echo/"),  # paths match exactly
    ],
)
def test_given_unknown_route_when_called_then_gateway_404(
    api: LocalApi, method: str, path: str
) -> None:
    # GIVEN a request for a route API Gateway would not have
    # WHEN it is sent
    status, headers, body = call(api, method, path, b"{}")
    # THEN API Gateway's own 404 answers, with its request id header
    assert status == 404
    assert json.loads(body) == {"message": "Not Found"}
    assert headers["content-type"] == "application/json"
    assert headers["apigw-requestid"]


def test_given_reserved_routes_when_called_then_reach_the_handler(api: LocalApi) -> None:
    # GIVEN health and metadata, which every version answers without being configured
    for path in ("/probe/v2/health", "/probe/v3/metadata"):
        # WHEN called / THEN the version's handler answered, with the right route key
        status, _, body = call(api, "GET", path)
        assert status == 200
        assert json.loads(body)["event"]["routeKey"] == f"GET {path}"


def test_given_handler_raises_when_called_then_500_logged_and_server_keeps_serving(
    api: LocalApi, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a warm worker
    pid_before = echo(api)["pid"]
    # WHEN its handler raises
    with caplog.at_level(logging.ERROR, logger="mlserve.local_api"):
        status, headers, body = call(api, "POST", "/probe/v3/crash", b"{}")
    # THEN the caller gets API Gateway's 500 and the trace is in the log
    assert status == 500
    assert json.loads(body) == {"message": "Internal Server Error"}
    assert headers["content-type"] == "application/json"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "RuntimeError: deliberate crash for the test" in logged
    assert "Traceback" in logged and "app.py" in logged
    # AND the same worker goes on serving
    assert echo(api)["pid"] == pid_before


def test_given_worker_process_dies_when_called_then_500_and_a_new_worker_serves(
    api: LocalApi,
) -> None:
    # GIVEN a warm worker
    pid_before = echo(api)["pid"]
    starts_before = api.workers["probe-v3"].starts
    # WHEN the handler kills its own process mid-invocation
    status, _, body = call(api, "POST", "/probe/v3/exit", b"{}")
    # THEN the caller gets a 500 and the next request is served by a fresh worker
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}
    assert echo(api)["pid"] != pid_before
    assert api.workers["probe-v3"].starts == starts_before + 1


def test_given_handler_exceeds_its_timeout_when_called_then_500_and_recovered(
    api: LocalApi, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN v3's 2-second timeout, a warm worker (a cold start adds Lambda's 10-second init
    # budget) and a handler that sleeps far longer
    echo(api)
    # WHEN called
    with caplog.at_level(logging.ERROR, logger="mlserve.local_api"):
        status, _, body = call(api, "POST", "/probe/v3/sleep", b"{}")
    # THEN Lambda's timeout is an API Gateway 500, logged, and the version still answers
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}
    assert any("timed out" in record.getMessage() for record in caplog.records)
    assert echo(api)["marker"] == "v3"


def test_given_request_when_handled_then_payload_2_0_event(api: LocalApi) -> None:
    # GIVEN a request with a query string, repeated headers and cookies
    headers = [
        ("Content-Type", "application/json"),
        ("X-Trace", "one"),
        ("X-Trace", "two"),
        ("User-Agent", "probe/1.0"),
        ("Cookie", "session=abc; theme=dark"),
    ]
    # WHEN it is sent
    status, response_headers, raw = call(
        api, "POST", "/probe/v3/echo?tag=a&tag=b&empty=", b'{"x": 1}', headers
    )
    seen = json.loads(raw)
    event = seen["event"]
    # THEN the handler got the event API Gateway would send
    assert status == 200
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /probe/v3/echo"
    assert event["rawPath"] == "/probe/v3/echo"
    assert event["rawQueryString"] == "tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"tag": "a,b", "empty": ""}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["x-trace"] == "one,two"
    assert event["headers"]["content-type"] == "application/json"
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == "$default"
    assert context["routeKey"] == event["routeKey"]
    assert context["http"] == {
        "method": "POST",
        "path": "/probe/v3/echo",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "probe/1.0",
    }
    assert context["requestId"] == response_headers["apigw-requestid"]
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["time"])
    assert isinstance(context["timeEpoch"], int)
    assert context["accountId"].isdigit() and context["apiId"]
    assert context["domainName"] == f"127.0.0.1:{api.port}"


def test_given_request_without_body_or_query_when_handled_then_those_keys_absent(
    api: LocalApi,
) -> None:
    # GIVEN a bare GET / WHEN handled
    event = echo(api, method="GET")["event"]
    # THEN, as in API Gateway, the optional keys are left out
    assert "body" not in event and "queryStringParameters" not in event
    assert "cookies" not in event
    assert event["isBase64Encoded"] is False and event["rawQueryString"] == ""


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("application/octet-stream", bytes(range(256))),
        ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00"),
        ("text/plain", b"caf\xe9"),  # declared text, but not UTF-8
        (None, b"no content type"),
    ],
)
def test_given_non_text_body_when_handled_then_base64_encoded(
    api: LocalApi, content_type: str | None, payload: bytes
) -> None:
    # GIVEN a body API Gateway cannot pass as text
    headers = [("Content-Type", content_type)] if content_type else []
    # WHEN sent
    event = echo(api, method="PUT", body=payload, headers=headers)["event"]
    # THEN the handler gets it base64-encoded, byte for byte
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_given_text_body_when_handled_then_passed_as_text(api: LocalApi) -> None:
    # GIVEN UTF-8 text of a text media type
    text = "prix: 3 € — «ok»"
    for content_type in ("text/plain; charset=utf-8", "application/problem+json"):
        # WHEN sent / THEN the body arrives as the same text
        event = echo(api, body=text.encode(), headers=[("Content-Type", content_type)])["event"]
        assert event["isBase64Encoded"] is False and event["body"] == text


def respond(api: LocalApi, result: Any) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Make the probe handler return `result` and fetch the HTTP response built from it."""
    return call(api, "POST", "/probe/v3/respond", json.dumps(result).encode(),
                [("Content-Type", "application/json")])  # fmt: skip


def test_given_full_response_when_mapped_then_status_headers_cookies_body(api: LocalApi) -> None:
    # GIVEN a handler result with every payload 2.0 response field
    result = {
        "statusCode": 201,
        "headers": {"content-type": "text/plain", "x-one": "1", "x-list": "a,b"},
        "cookies": ["a=1", "b=2; Path=/; HttpOnly"],
        "body": "created",
        "isBase64Encoded": False,
    }
    # WHEN mapped
    status, headers, body = respond(api, result)
    # THEN each part lands where API Gateway puts it
    assert status == 201 and body == b"created"
    assert headers["content-type"] == "text/plain"
    assert headers["x-one"] == "1" and headers["x-list"] == "a,b"
    assert headers.get_all("set-cookie") == ["a=1", "b=2; Path=/; HttpOnly"]


def test_given_base64_response_when_mapped_then_binary_body(api: LocalApi) -> None:
    # GIVEN a binary body the handler base64-encoded
    payload = bytes(range(255, -1, -1))
    result = {
        "statusCode": 200,
        "headers": {"content-type": "application/octet-stream"},
        "body": base64.b64encode(payload).decode(),
        "isBase64Encoded": True,
    }
    # WHEN / THEN the client receives the decoded bytes
    status, headers, body = respond(api, result)
    assert status == 200 and body == payload
    assert headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize("result", [{"hello": "world", "n": [1, 2]}, [1, 2, 3], "text", None])
def test_given_result_without_status_code_when_mapped_then_200_json(
    api: LocalApi, result: Any
) -> None:
    # GIVEN a handler result that is not a response object
    # WHEN / THEN API Gateway's inference: 200, application/json, the result as the body
    status, headers, body = respond(api, result)
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == result


def test_given_status_only_response_when_mapped_then_empty_body(api: LocalApi) -> None:
    # GIVEN a 204 with neither headers nor body / WHEN / THEN empty, with a JSON default type
    status, headers, body = respond(api, {"statusCode": 204})
    assert status == 204 and body == b""
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200", "body": "x"},
        {"statusCode": 700, "body": "x"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
        {"statusCode": 200, "headers": ["not", "a", "map"]},
        {"statusCode": 200, "headers": {"x-bad": "line\r\nbreak"}},
    ],
)
def test_given_malformed_response_when_mapped_then_gateway_500(api: LocalApi, result: Any) -> None:
    # GIVEN a handler result API Gateway cannot map
    # WHEN / THEN the caller gets the gateway's 500, and the server still serves
    status, _, body = respond(api, result)
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}
    assert echo(api)["marker"] == "v3"


def test_given_each_version_when_invoked_then_own_process_env_and_modules(api: LocalApi) -> None:
    # GIVEN two versions whose folders have modules of the same names
    settings = api.settings
    for key in ("v2", "v3"):
        version = settings.services["probe"].versions[key]
        # WHEN each is called
        seen = echo(api, key)
        # THEN it imported its own modules, from its own folder first, then the runtime
        assert seen["marker"] == key
        assert seen["sys_path"] == [str(version.code), str(RUNTIME)]
        assert seen["cwd"] == str(version.code)
        # AND its environment is exactly the function's plus what Lambda itself sets
        environ = dict(seen["environ"])
        environ.pop("LC_CTYPE", None)  # set by the interpreter's C-locale coercion (PEP 538)
        assert environ == api.workers[version.logical_name].environment
        expected = version.variables
        assert {k: v for k, v in environ.items() if k in expected} == expected
        extra = set(environ) - set(expected)
        assert extra == {
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "_HANDLER", "TZ", "LANG", "PATH",
        }  # fmt: skip
        assert environ["AWS_LAMBDA_FUNCTION_NAME"] == version.function_name == seen["function_name"]
        assert seen["memory"] == "256"
        assert seen["arn"].endswith(f":function:{version.function_name}:{version.alias_name}")
        assert 0 < seen["remaining_ms"] <= version.timeout_seconds * 1000
    assert echo(api, "v2")["pid"] != echo(api, "v3")["pid"]
    assert echo(api, "v2")["environ"]["GREETING"] == "hello"
    assert "GREETING" not in echo(api, "v3")["environ"]


def test_given_today_moved_when_invoked_then_handler_clock_moves_without_env(
    api: LocalApi,
) -> None:
    # GIVEN the local API told that today is 2030-01-01
    api.set_today(date(2030, 1, 1))
    try:
        # WHEN a handler reads the runtime clock
        seen = echo(api)
    finally:
        api.clock_offset = timedelta(0)
    # THEN its clock, and the event's request time, are on that day
    assert datetime.fromtimestamp(seen["clock"], UTC).date() == date(2030, 1, 1)
    assert seen["event"]["requestContext"]["time"].startswith("01/Jan/2030:")
    # AND nothing about it reached the function environment
    assert not any("TODAY" in name or "CLOCK" in name for name in seen["environ"])
    # AND with the offset removed the handler is back on the real clock
    assert datetime.fromtimestamp(echo(api)["clock"], UTC).year < 2030


def test_given_unknown_stack_when_cli_runs_then_exit_code_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a stack name with no Pulumi.<stack>.yaml / WHEN the command runs
    code = main(["--stack", "no-such-stack", "--port", "0"])
    # THEN it refuses with a usage error naming the known stacks
    assert code == 2
    assert "no-such-stack" in capsys.readouterr().err


def test_given_started_api_when_stopped_then_workers_end_and_port_closes(
    tmp_path: Path,
) -> None:
    # GIVEN a second API with a warm worker
    local = LocalApi(probe_settings(tmp_path), runtime_path=RUNTIME)
    port = local.start()
    assert echo(local)["marker"] == "v3"
    worker = local.workers["probe-v3"]
    assert worker.pid is not None
    # WHEN it stops
    local.stop()
    # THEN the worker is gone and nothing listens on the port any more
    assert worker.pid is None
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=5).connect()


def key_shape(document: Any) -> Any:
    """The nesting of keys of a JSON document, without values."""
    if isinstance(document, dict):
        return {key: key_shape(value) for key, value in document.items()}
    return type(document).__name__


def test_given_same_request_when_built_by_gateway_fixture_then_same_event_shape(
    api: LocalApi,
) -> None:
    # GIVEN a request as the shared API Gateway event builder describes it
    reference = http_api_event(
        "POST", "/probe/v3/echo", json_body={"x": 1}, query="a=1&a=2", cookies=["k=v"]
    )
    # WHEN the same request goes through the local API
    event = echo(
        api,
        query="?a=1&a=2",
        body=b'{"x":1}',
        headers=[("Content-Type", "application/json"), ("Cookie", "k=v")],
    )["event"]
    # THEN both events have the same keys, nested the same way, and agree on the request parts
    assert key_shape(event) | {"headers": None} == key_shape(reference) | {"headers": None}
    for key in (
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "queryStringParameters",
        "cookies",
        "body",
        "isBase64Encoded",
    ):
        assert event[key] == reference[key], key
    assert event["requestContext"]["http"]["path"] == reference["requestContext"]["http"]["path"]


def test_given_cli_with_today_after_sunset_when_served_then_gone_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    # GIVEN `serve --stack dev --port 0 --today 2027-07-01` in its own process
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-u", "-c",
         "import sys; from mlserve.local_api import main; sys.exit(main(sys.argv[1:]))",
         "--stack", "dev", "--port", "0", "--today", "2027-07-01"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 120)  # a guard, not a measurement
        banner = process.stdout.readline() if ready else ""
        match = re.search(r"on (http://127\.0\.0\.1:\d+) ", banner)
        assert match, f"no banner; log:\n{(tmp_path / 'serve.log').read_text()}"
        url = match.group(1)
        # WHEN the deprecated and the active churn versions are asked for their health
        with pytest.raises(urllib.error.HTTPError) as gone:
            urllib.request.urlopen(f"{url}/churn/v1/health", timeout=60)
        with gone.value, urllib.request.urlopen(f"{url}/churn/v2/health", timeout=60) as active:
            # THEN the clock moved: v1 is past its sunset, v2 answers
            assert gone.value.code == 410
            assert json.loads(gone.value.read())["successor"] == "/churn/v2"
            assert active.status == 200
        # AND SIGTERM stops the server cleanly
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()
