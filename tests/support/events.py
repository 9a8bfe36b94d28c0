"""API Gateway HTTP API (payload format 2.0) events as AWS sends them, and handler loading.

The event shape follows AWS's documented payload 2.0 format: header names lower-cased, duplicate
headers and query parameters joined with commas, `cookies`, `queryStringParameters` and `body`
present only when the request has them, and the Lambda-side base64 flag in `isBase64Encoded`.
"""

from __future__ import annotations

import base64
import importlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVICES = PROJECT_ROOT / "services"
ACCOUNT_ID = "123456789012"
API_ID = "a1b2c3d4e5"
REGION = "us-east-1"
SOURCE_IP = "198.51.100.7"
USER_AGENT = "mlserve-tests/1.0"
DEFAULT_TIME_EPOCH_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_api_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    json_body: Any = None,
    base64_encoded: bool = False,
    headers: Mapping[str, str] | None = None,
    query: str = "",
    cookies: list[str] | None = None,
    route_key: str | None = None,
    request_id: str = "JKJaXmPLvHcESHA=",
    time_epoch_ms: int = DEFAULT_TIME_EPOCH_MS,
    iam_caller: str | None = None,
) -> dict[str, Any]:
    """One request as API Gateway's HTTP API hands it to a Lambda proxy integration (2.0).

    `json_body` is serialized compactly; `body` is sent as given, except that bytes are always
    base64-encoded (as API Gateway does for binary media) and `base64_encoded` encodes text too.
    `headers` override the defaults by lower-cased name.
    `route_key` defaults to `"<METHOD> <path>"`, the key of an explicit route such as mlserve's.
    `iam_caller` (a role ARN) adds the `authorizer.iam` block that IAM-authorized routes carry.
    """
    if json_body is not None:
        body = json.dumps(json_body, separators=(",", ":"))
    if isinstance(body, bytes):
        raw, base64_encoded = body, True
    else:
        raw = b"" if body is None else body.encode()
    when = datetime.fromtimestamp(time_epoch_ms / 1000, UTC)
    all_headers = {
        "accept": "application/json",
        "content-length": str(len(raw)),
        "host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "user-agent": USER_AGENT,
        "x-amzn-trace-id": f"Root=1-{time_epoch_ms // 1000:08x}-{request_id.encode().hex()[:24]}",
        "x-forwarded-for": SOURCE_IP,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if body is not None:
        all_headers["content-type"] = "application/json"
    # API Gateway lower-cases names; a repeated header arrives as one comma-joined value.
    all_headers.update({name.lower(): value for name, value in (headers or {}).items()})
    key = route_key or f"{method} {path}"
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "domainPrefix": API_ID,
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": SOURCE_IP,
            "userAgent": all_headers["user-agent"],
        },
        "requestId": request_id,
        "routeKey": key,
        "stage": "$default",
        "time": f"{when:%d}/{MONTHS[when.month - 1]}/{when:%Y:%H:%M:%S} +0000",
        "timeEpoch": time_epoch_ms,
    }
    if iam_caller is not None:
        request_context["authorizer"] = {"iam": _iam(iam_caller)}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        joined: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        event["queryStringParameters"] = joined
    event["requestContext"] = request_context
    if body is not None:
        event["body"] = base64.b64encode(raw).decode() if base64_encoded else body
    event["isBase64Encoded"] = base64_encoded
    return event


def response_json(response: Mapping[str, Any]) -> Any:
    """The decoded JSON body of a payload 2.0 response."""
    body = response["body"]
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body)


def header(response: Mapping[str, Any], name: str) -> str | None:
    """A response header by case-insensitive name, or None."""
    matches = [v for k, v in (response.get("headers") or {}).items() if k.lower() == name.lower()]
    assert len(matches) <= 1, f"header {name} set {len(matches)} times: {matches}"
    return matches[0] if matches else None


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith(("MLSERVE_", "POWERTOOLS_"))]:
        del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def load_handler(service: str, version: str, env: Mapping[str, str] | None = None) -> ModuleType:
    """A version's `app` module, imported fresh as Lambda would at cold start.

    Every version folder holds modules of the same names (`app`, `contract`, `model`), so the
    folder goes first on sys.path only while it is imported and its module names are dropped
    from sys.modules before and after. `env` is the function's environment during the import
    (the only time the runtime reads it); other MLSERVE_*/POWERTOOLS_* variables are hidden.
    The stdlib logger named after the service is dropped too, so the new powertools Logger
    writes to the current sys.stdout (pytest's capsys) instead of an earlier test's.
    """
    folder = SERVICES / service / version
    names = [path.stem for path in folder.glob("*.py")]

    def forget() -> None:
        for name in names:
            sys.modules.pop(name, None)

    forget()
    logging.Logger.manager.loggerDict.pop(service, None)
    sys.path.insert(0, str(folder))
    try:
        with _environment(env or {}):
            return importlib.import_module("app")
    finally:
        sys.path.remove(str(folder))
        forget()


def _iam(role_arn: str) -> dict[str, Any]:
    account = role_arn.split(":")[4]
    role = role_arn.rsplit("/", 1)[1]
    return {
        "accessKey": "ASIAEXAMPLEKEY000000",
        "accountId": account,
        "callerId": f"AROAEXAMPLEROLEID0000:{role}-session",
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:sts::{account}:assumed-role/{role}/{role}-session",
        "userId": f"AROAEXAMPLEROLEID0000:{role}-session",
    }
