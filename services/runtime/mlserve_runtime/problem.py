"""RFC 9457 problem details as API Gateway HTTP API (payload 2.0) responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PROBLEM_JSON = "application/problem+json"
# Problem types are tag URIs (RFC 4151, in conventions): they name our types without promising a
# page that resolves, which RFC 9457 allows.
BLANK = "about:blank"


def problem_body(
    status: int, title: str, detail: str, type_: str = BLANK, **extensions: Any
) -> dict[str, Any]:
    """The problem object: type, title, status, detail, then any extension members."""
    return {"type": type_, "title": title, "status": status, "detail": detail, **extensions}


def problem_response(
    status: int,
    title: str,
    detail: str,
    type_: str = BLANK,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    """A complete Lambda response carrying a problem+json body."""
    body = problem_body(status, title, detail, type_, **extensions)
    return {
        "statusCode": status,
        "headers": {"Content-Type": PROBLEM_JSON, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }
