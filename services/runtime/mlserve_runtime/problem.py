"""RFC 9457 problem details as API Gateway HTTP API (payload 2.0) responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PROBLEM_JSON = "application/problem+json"
# Problem types are tag URIs (RFC 4151, in conventions): they name our types without promising a
# page that resolves, which RFC 9457 allows.
BLANK = "about:blank"
# A 400 lists the first invalid fields and how many more there are, so a body with thousands of
# unknown keys never makes the answer larger than the question.
MAX_PROBLEM_BYTES = 16 * 1024


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
    return as_response(problem_body(status, title, detail, type_, **extensions), headers)


def as_response(
    body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A problem object as a complete Lambda response."""
    return {
        "statusCode": body["status"],
        "headers": {"Content-Type": PROBLEM_JSON, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def field_errors(error: Any) -> list[dict[str, str]]:
    """A contract violation (pydantic's ValidationError; this module stays stdlib-only) as the
    `errors` of a problem: each invalid field and why."""
    return [
        {"field": ".".join(str(part) for part in e["loc"]) or "body", "message": e["msg"]}
        for e in error.errors(include_url=False, include_input=False)
    ]


def bounded_errors(errors: list[dict[str, str]]) -> dict[str, Any]:
    """The `errors` member of a 400 (and `more`, the count left out) within MAX_PROBLEM_BYTES."""
    kept: list[dict[str, str]] = []
    size = 512  # the rest of the problem object
    for error in errors:
        size += len(json.dumps(error)) + 2
        if size > MAX_PROBLEM_BYTES:
            break
        kept.append(error)
    return (
        {"errors": kept, "more": len(errors) - len(kept)}
        if len(kept) < len(errors)
        else {"errors": kept}
    )
