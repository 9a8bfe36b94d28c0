"""Test helpers for code that uses the client: a scripted transport instead of the network."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from mlserve_client._http import Headers, HttpRequest, HttpResponse


def json_response(
    status: int,
    body: Any,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    *,
    content_type: str = "application/json",
) -> HttpResponse:
    """A response with a JSON body and the given extra headers."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    return HttpResponse(
        status, Headers([("Content-Type", content_type), *items]), json.dumps(body).encode()
    )


class FakeTransport:
    """Answers each request with the next scripted response (or raises the scripted error)."""

    def __init__(self, script: Iterable[HttpResponse | Exception]) -> None:
        self.script = list(script)
        self.requests: list[HttpRequest] = []
        self.timeouts: list[float] = []

    def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        """Record the request and play the next step of the script."""
        self.requests.append(request)
        self.timeouts.append(timeout)
        if not self.script:
            raise AssertionError(f"unscripted request {request.method} {request.url}")
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step
