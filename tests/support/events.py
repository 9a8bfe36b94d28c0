"""Requests as a client sends them, through mlserve's API Gateway event builder, and handler
loading as Lambda does at cold start."""

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

from mlserve_runtime.gateway_events import API_ID, REGION
from mlserve_runtime.gateway_events import http_api_event as gateway_event

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVICES = PROJECT_ROOT / "services"
SOURCE_IP = "198.51.100.7"
USER_AGENT = "mlserve-tests/1.0"
DEFAULT_TIME_EPOCH_MS = 1_790_000_000_000  # 2026-09-21T14:13:20Z


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
    """A request through mlserve's one event builder, with the headers a client sends.

    `json_body` is serialized compactly; `body` is sent as given, except that bytes are always
    base64-encoded (as API Gateway does for binary media) and `base64_encoded` encodes text too.
    `headers` override the defaults by lower-cased name.
    """
    if json_body is not None:
        body = json.dumps(json_body, separators=(",", ":"))
    raw = body if isinstance(body, bytes) else (None if body is None else body.encode())
    all_headers = {
        "accept": "application/json",
        "content-length": str(len(raw or b"")),
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
    return gateway_event(
        method,
        path,
        headers=all_headers,
        body=raw,
        base64_encoded=isinstance(body, bytes) or base64_encoded,
        query=query,
        cookies=cookies or (),
        route_key=route_key,
        request_id=request_id,
        now=datetime.fromtimestamp(time_epoch_ms / 1000, UTC),
        source_ip=SOURCE_IP,
        iam_caller=iam_caller,
    )


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
