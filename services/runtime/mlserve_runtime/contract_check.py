"""The contract check of a version's answers: each route's example request from its contract,
sent as API Gateway would, must get 200 with a body the route's locked response schema accepts.
The rollout's pre-traffic hook (services/rollout_hook) runs it against a new Lambda version before
it gets any traffic."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema

from mlserve_runtime.gateway_events import http_api_event

Invoke = Callable[[dict[str, Any]], Mapping[str, Any]]


def route_problems(
    route: str, base_path: str, check: Mapping[str, Any], invoke: Invoke
) -> list[str]:
    """Why one route's example does not get a contract-conforming 200 from `invoke`."""
    method, path = route.split(" ", 1)
    example = check.get("example")
    event = http_api_event(
        method,
        f"{base_path}{path}",
        body=json.dumps(example).encode() if example is not None else None,
        headers={"content-type": "application/json"} if example is not None else None,
    )
    answer = invoke(event)
    status = answer.get("statusCode")
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    if status != 200:
        return [f"{route}: the example got {status}, not 200: {str(body)[:300]}"]
    try:
        document = json.loads(body)
    except (TypeError, ValueError):
        return [f"{route}: the answer is not JSON: {str(body)[:300]}"]
    try:
        fastjsonschema.validate(check["response"], document)
    except fastjsonschema.JsonSchemaException as error:
        return [f"{route}: the answer breaks the locked response schema: {error}"]
    return []


def version_problems(checks: Mapping[str, Any], invoke: Invoke) -> list[str]:
    """Every route's problems for one version."""
    return [
        problem
        for route, check in checks["routes"].items()
        for problem in route_problems(route, checks["basePath"], check, invoke)
    ]
