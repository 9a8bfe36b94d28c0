"""A major version's lifecycle, read once from the environment, applied to every response."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, NamedTuple

from mlserve_runtime import clock
from mlserve_runtime.conventions import (
    BASE_PATH,
    DEPLOYED_LIFECYCLES,
    DEPRECATED,
    ENV_DEPRECATED_ON,
    ENV_DOCS_URL,
    ENV_LIFECYCLE,
    ENV_SERVICE,
    ENV_SUCCESSOR_PATH,
    ENV_SUNSET_ON,
    ENV_VERSION,
    PROBLEM_VERSION_SUNSET,
    SERVICE,
    VERSION,
    base_path,
    deprecation_header,
    deprecation_moment,
    http_date,
    sunset_moment,
)
from mlserve_runtime.problem import as_response, problem_body

Handler = Callable[[Any, Any], Any]

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LIFECYCLE_HEADERS = frozenset({"deprecation", "sunset", "link"})


class DeploymentError(RuntimeError):
    """The function's environment is inconsistent: a deployment bug, raised at cold start."""


class Lifecycle(NamedTuple):
    """What the environment says about this version's place in its lifecycle."""

    service: str | None
    version: str | None
    status: str
    deprecated_on: date | None
    sunset_on: date | None
    successor_path: str | None
    docs_url: str | None

    @property
    def deprecated_at(self) -> int | None:
        """Epoch seconds of 00:00:00Z on the deprecation day."""
        return None if self.deprecated_on is None else deprecation_moment(self.deprecated_on)

    @property
    def sunset_at(self) -> int | None:
        """Epoch seconds of 23:59:59Z on the sunset day, the last moment the version answers."""
        return None if self.sunset_on is None else sunset_moment(self.sunset_on)

    @property
    def base_path(self) -> str | None:
        """The version's HTTP base path, e.g. `/churn/v1`, when service and version are known."""
        return base_path(self.service, self.version) if self.service and self.version else None


def read_lifecycle(environ: Mapping[str, str] | None = None) -> Lifecycle:
    """Parse the MLSERVE_* lifecycle variables; raise DeploymentError naming the bad one."""
    env = os.environ if environ is None else environ
    service = _matching(env, ENV_SERVICE, SERVICE, "a service key such as churn")
    version = _matching(env, ENV_VERSION, VERSION, "a major version such as v2")
    status = env.get(ENV_LIFECYCLE, "active")
    if status not in DEPLOYED_LIFECYCLES:
        raise DeploymentError(
            f"{ENV_LIFECYCLE}={status!r} is not a lifecycle a deployed function can have; "
            f"use one of {', '.join(DEPLOYED_LIFECYCLES)}"
        )
    deprecated_on = _day(env, ENV_DEPRECATED_ON)
    sunset_on = _day(env, ENV_SUNSET_ON)
    successor_path = _matching(
        env, ENV_SUCCESSOR_PATH, BASE_PATH, "the successor's base path such as /churn/v2"
    )
    docs_url = env.get(ENV_DOCS_URL) or None
    if docs_url is not None and not docs_url.startswith("https://"):
        raise DeploymentError(f"{ENV_DOCS_URL}={docs_url!r} must be an https:// URL")
    if status == DEPRECATED:
        for name, value in (
            (ENV_DEPRECATED_ON, deprecated_on),
            (ENV_SUNSET_ON, sunset_on),
            (ENV_SUCCESSOR_PATH, successor_path),
        ):
            if value is None:
                raise DeploymentError(f"{name} is required when {ENV_LIFECYCLE}=deprecated")
    if sunset_on is not None and deprecated_on is None:
        raise DeploymentError(f"{ENV_DEPRECATED_ON} is required when {ENV_SUNSET_ON} is set")
    if deprecated_on is not None and sunset_on is not None and sunset_on < deprecated_on:
        raise DeploymentError(
            f"{ENV_SUNSET_ON}={sunset_on} is before {ENV_DEPRECATED_ON}={deprecated_on}; "
            "a version cannot be sunset before it is deprecated (RFC 8594)"
        )
    return Lifecycle(service, version, status, deprecated_on, sunset_on, successor_path, docs_url)


def lifecycle_headers(lifecycle: Lifecycle) -> dict[str, str]:
    """Deprecation (RFC 9745), Sunset (RFC 8594) and Link headers; none for an active version."""
    if lifecycle.status != DEPRECATED:
        return {}
    assert lifecycle.deprecated_on is not None and lifecycle.sunset_at is not None
    links = []
    if lifecycle.docs_url is not None:
        links.append(f'<{lifecycle.docs_url}>; rel="deprecation"; type="text/html"')
        links.append(f'<{lifecycle.docs_url}>; rel="sunset"; type="text/html"')
    elif lifecycle.base_path is not None:
        # Without documentation the version's own metadata, which states its lifecycle, is the
        # most precise description of the sunset policy there is.
        links.append(f'<{lifecycle.base_path}/metadata>; rel="sunset"; type="application/json"')
    links.append(f'<{lifecycle.successor_path}>; rel="successor-version"')
    return {
        "Deprecation": deprecation_header(lifecycle.deprecated_on),
        "Sunset": http_date(lifecycle.sunset_at),
        "Link": ", ".join(links),
    }


def gone_problem(lifecycle: Lifecycle) -> dict[str, Any]:
    """The problem a version answers after its sunset moment (a 410), naming its successor;
    HTTP and queue callers get the same one."""
    name = f"{lifecycle.service} {lifecycle.version}" if lifecycle.base_path else "This version"
    return problem_body(
        410,
        "API version sunset",
        f"{name} was sunset on {lifecycle.sunset_on}T23:59:59Z and no longer answers; "
        f"use its successor {lifecycle.successor_path}",
        PROBLEM_VERSION_SUNSET,
        successor=lifecycle.successor_path,
        sunset=f"{lifecycle.sunset_on}T23:59:59Z",
    )


def gone_response(lifecycle: Lifecycle, headers: Mapping[str, str]) -> dict[str, Any]:
    """The 410 response of a version after its sunset moment."""
    return as_response(gone_problem(lifecycle), headers)


def versioned(handler: Handler, environ: Mapping[str, str] | None = None) -> Handler:
    """Wrap a payload 2.0 handler so every response follows the version's lifecycle."""
    lifecycle = read_lifecycle(environ)
    if lifecycle.status != DEPRECATED:
        return handler
    headers = lifecycle_headers(lifecycle)
    gone = gone_response(lifecycle, headers)
    sunset_at = lifecycle.sunset_at
    assert sunset_at is not None

    @functools.wraps(handler)
    def deprecated_handler(event: Any, context: Any) -> dict[str, Any]:
        if clock.now() > sunset_at:
            return {**gone, "headers": dict(gone["headers"])}  # callers may mutate theirs
        return _with_headers(_explicit(handler(event, context)), headers)

    return deprecated_handler


def _with_headers(response: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    """The response with the lifecycle headers; names compare case-insensitively, a handler's
    own Link values are kept, and its Deprecation/Sunset give way to the deployed lifecycle."""
    headers = response.get("headers") or {}
    if not any(name.lower() in LIFECYCLE_HEADERS for name in headers):
        return {**response, "headers": {**headers, **extra}}
    merged: dict[str, str] = {}
    own_links = []
    for name, value in headers.items():
        lower = name.lower()
        if lower == "link":
            own_links.append(value)
        elif lower not in LIFECYCLE_HEADERS:
            merged[name] = value
    merged.update(extra)
    merged["Link"] = ", ".join([*own_links, extra["Link"]])
    return {**response, "headers": merged}


def _explicit(response: Any) -> dict[str, Any]:
    """A response in explicit form; HTTP API infers status 200 and a JSON body otherwise."""
    if isinstance(response, dict) and "statusCode" in response:
        return response
    body = response if isinstance(response, str) else json.dumps(response)
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}


def _day(env: Mapping[str, str], name: str) -> date | None:
    text = env.get(name) or None
    if text is None:
        return None
    try:
        if not DAY.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise DeploymentError(
            f"{name}={text!r} is not a calendar day; use YYYY-MM-DD, e.g. 2027-06-30"
        ) from None


def _matching(env: Mapping[str, str], name: str, pattern: re.Pattern[str], hint: str) -> str | None:
    text = env.get(name) or None
    if text is not None and not pattern.match(text):
        raise DeploymentError(f"{name}={text!r} is malformed; use {hint}")
    return text
