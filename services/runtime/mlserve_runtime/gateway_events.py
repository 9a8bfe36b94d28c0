"""API Gateway HTTP API (payload format 2.0) events as AWS hands them to a Lambda proxy
integration: one builder for the local API, `validate`, the pre-traffic hook and the tests.

What the format says (AWS's "Working with AWS Lambda proxy integrations for HTTP APIs"): header
names lower-cased, a repeated header or query parameter joined with commas, cookies moved out of
the headers into `cookies`, `queryStringParameters` and `body` present only when the request has
them, and a body API Gateway does not take for text base64-encoded with `isBase64Encoded`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

ACCOUNT_ID = "123456789012"
API_ID = "a1b2c3d4e5"
REGION = "us-east-1"
STAGE = "$default"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "application/yaml",
        "application/x-yaml",
    }
)


def request_time(moment: datetime) -> str:
    """API Gateway's `requestContext.time`, e.g. `12/Mar/2020:19:03:58 +0000`."""
    moment = moment.astimezone(UTC)
    return f"{moment:%d}/{MONTHS[moment.month - 1]}/{moment:%Y:%H:%M:%S} +0000"


def is_text(content_type: str | None, content_encoding: str | None = None) -> bool:
    """Whether API Gateway passes a body of this type as text rather than base64."""
    if content_encoding and content_encoding.strip().lower() not in ("", "identity"):
        return False
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return (
        media_type.startswith("text/")
        or media_type in TEXT_MEDIA_TYPES
        or media_type.endswith(("+json", "+xml"))
    )


def http_api_event(
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    base64_encoded: bool | None = None,
    query: str = "",
    cookies: Sequence[str] = (),
    route_key: str | None = None,
    request_id: str = "JKJaXmPLvHcESHA=",
    now: datetime | None = None,
    source_ip: str = "198.51.100.7",
    iam_caller: str | None = None,
    protocol: str = "HTTP/1.1",
) -> dict[str, Any]:
    """One request as API Gateway's HTTP API hands it to a Lambda proxy integration (2.0).

    `headers` are taken as they arrive at API Gateway (names are lower-cased here); `body` is
    the raw body, passed as text when its content type is text (else base64), or as
    `base64_encoded` says (True: base64, False: UTF-8 text). `route_key` defaults to
    `"<METHOD> <path>"`, the key of an explicit route such as mlserve's. `iam_caller` (a role
    ARN) adds the `authorizer.iam` block that IAM-authorized routes carry.
    """
    moment = now or datetime.now(UTC)
    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    host = lowered.get("host", f"{API_ID}.execute-api.{REGION}.amazonaws.com")
    key = route_key or f"{method} {path}"
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": method,
            "path": path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": lowered.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": key,
        "stage": STAGE,
        "time": request_time(moment),
        "timeEpoch": int(moment.timestamp() * 1000),
    }
    if iam_caller is not None:
        context["authorizer"] = {"iam": _iam(iam_caller)}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
    }
    if cookies:
        event["cookies"] = list(cookies)
    if query:
        joined: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        event["queryStringParameters"] = joined
    event["requestContext"] = context
    encoded = False
    if body is not None and body != b"":
        if base64_encoded is None:
            text = _as_text(body, lowered)
        else:
            text = None if base64_encoded else body.decode("utf-8")
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            encoded = True
        else:
            event["body"] = text
    event["isBase64Encoded"] = encoded
    return event


def _as_text(body: bytes, headers: Mapping[str, str]) -> str | None:
    if not is_text(headers.get("content-type"), headers.get("content-encoding")):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _iam(role_arn: str) -> dict[str, Any]:
    """The `authorizer.iam` block of a request signed by a session of `role_arn`."""
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
