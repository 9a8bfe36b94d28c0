"""The Lambda app of one model version: the routes its contract declares, plus health and metadata,
on powertools, validated, logged and wrapped by the version's lifecycle."""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from pydantic import BaseModel, ValidationError

from mlserve_runtime.artifacts import ModelCard, contract_hash, surface_models
from mlserve_runtime.conventions import (
    ENV_METRICS_NAMESPACE,
    ENV_QUEUE_ROUTE,
    ENV_SERVICE,
    ENV_VERSION,
    HEALTH_ROUTE,
    METADATA_ROUTE,
    PROBLEM_INVALID_REQUEST,
    base_path,
    outcome,
    surface_problems,
)
from mlserve_runtime.lifecycle import DeploymentError, Handler, read_lifecycle, versioned
from mlserve_runtime.metrics import request_counter
from mlserve_runtime.problem import (
    BLANK,
    PROBLEM_JSON,
    bounded_errors,
    field_errors,
    problem_body,
    problem_response,
)

# API Gateway accepts 10 MB and Lambda 6 MB, but every mlserve contract fits in a few KiB: a
# tight limit keeps a hostile body from costing parse time and memory in a small function.
MAX_BODY_BYTES = 64 * 1024
JSON = "application/json"


class InvalidRequestError(Exception):
    """A caller's body that the version's contract rejects; becomes a 400 listing every field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors[:10]))


def request_body(event: Mapping[str, Any]) -> bytes:
    """The raw request body, base64-decoded when API Gateway encoded it, within the size limit."""
    body = event.get("body")
    if not body:
        raise InvalidRequestError([{"field": "body", "message": "a JSON object is required"}])
    too_large = {"field": "body", "message": f"larger than the limit of {MAX_BODY_BYTES} bytes"}
    if event.get("isBase64Encoded"):
        if len(body) > (MAX_BODY_BYTES + 2) // 3 * 4:
            raise InvalidRequestError([too_large])
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError([{"field": "body", "message": "not valid base64"}]) from None
    else:
        if len(body) > MAX_BODY_BYTES:  # a character is at least one byte: no encoding needed
            raise InvalidRequestError([too_large])
        try:
            raw = body.encode()
        except UnicodeEncodeError:
            raise InvalidRequestError([{"field": "body", "message": "not UTF-8 text"}]) from None
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidRequestError([too_large])
    return raw


_EVENT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "version": str,
    "routeKey": str,
    "rawQueryString": str,
    "body": (str, type(None)),
    "isBase64Encoded": bool,
    "headers": Mapping,
    "queryStringParameters": Mapping,
    "pathParameters": Mapping,
    "stageVariables": Mapping,
    "cookies": list,
}
_CONTEXT_FIELDS: dict[str, type] = {"stage": str, "requestId": str}
_HTTP_FIELDS: dict[str, type] = {"method": str, "path": str, "sourceIp": str, "userAgent": str}


def event_problems(event: Any) -> list[dict[str, str]]:
    """What makes an event unreadable as an HTTP API payload 2.0 request; API Gateway never sends
    such events, but a direct invoke can, and it must get a 400 rather than a crash inside the
    resolver (which reads rawPath, the method, the stage and the string-valued maps)."""
    if not isinstance(event, Mapping):
        return [{"field": "event", "message": "not a JSON object"}]
    problems = _typed(event, _EVENT_FIELDS, "")
    if not isinstance(event.get("rawPath"), str) or not event["rawPath"].startswith("/"):
        problems.append({"field": "rawPath", "message": "a path starting with / is required"})
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return [*problems, {"field": "requestContext", "message": "an object is required"}]
    problems += _typed(context, _CONTEXT_FIELDS, "requestContext.")
    if not isinstance(context.get("stage"), str):
        problems.append({"field": "requestContext.stage", "message": "a stage name is required"})
    http = context.get("http")
    if not isinstance(http, Mapping) or not isinstance(http.get("method"), str):
        problems.append(
            {"field": "requestContext.http.method", "message": "an HTTP method is required"}
        )
    else:
        problems += _typed(http, _HTTP_FIELDS, "requestContext.http.")
    for name in ("headers", "queryStringParameters", "pathParameters", "stageVariables"):
        values = event.get(name)
        if isinstance(values, Mapping) and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()
        ):
            problems.append({"field": name, "message": "names and values must be strings"})
    cookies = event.get("cookies")
    if isinstance(cookies, list) and not all(isinstance(c, str) for c in cookies):
        problems.append({"field": "cookies", "message": "must be strings"})
    return problems


def _typed(
    values: Mapping[str, Any], fields: Mapping[str, Any], prefix: str
) -> list[dict[str, str]]:
    return [
        {"field": f"{prefix}{name}", "message": f"must be {getattr(kind, '__name__', 'valid')}"}
        for name, kind in fields.items()
        if name in values and not isinstance(values[name], kind)
    ]


def parse_request(event: Mapping[str, Any], request_model: type[BaseModel]) -> BaseModel:
    """The body validated against the request contract, else InvalidRequestError for each field."""
    raw = request_body(event)
    try:
        return request_model.model_validate_json(raw)
    except ValidationError as error:
        raise InvalidRequestError(field_errors(error)) from None


def serve(
    contract: Any,
    routes: Mapping[str, Callable[..., Any]],
    card: ModelCard,
    environ: Mapping[str, str] | None = None,
    logger: Logger | None = None,
) -> Handler:
    """A payload 2.0 handler for the surface `contract.SURFACE` declares: `routes` gives each
    declared route (`POST /predict`, relative to `/<service>/<version>`) its function, which takes
    the validated request model (nothing for a route without one) and returns the response model.
    GET health and metadata come with every version. Raises DeploymentError at cold start when
    the code, its declaration and the function environment disagree."""
    declared = getattr(contract, "SURFACE", None)
    problems = surface_problems(declared)
    if problems:
        raise DeploymentError(f"the contract's SURFACE is unusable: {'; '.join(problems)}")
    surface: dict[str, Any] = declared  # type: ignore[assignment]  # checked just above
    service, version = surface["service"], surface["version"]
    env = os.environ if environ is None else environ
    for name, expected in ((ENV_SERVICE, service), (ENV_VERSION, version)):
        if env.get(name, expected) != expected:
            raise DeploymentError(
                f"{name}={env[name]!r} but this code serves {service} {version}; the function "
                "was deployed with another version's code folder"
            )
    if set(routes) != set(surface["routes"]):
        raise DeploymentError(
            f"the app serves {sorted(routes)} but its contract declares "
            f"{sorted(surface['routes'])}; give every declared route one function"
        )
    models = surface_models(contract)
    lifecycle = read_lifecycle(env)
    log = logger or Logger(service=service)
    base = base_path(service, version)
    # Routes are matched below /<service>: the single API and a custom domain send the public
    # path (a domain keeps its mapping key in rawPath), a service's own API on its execute-api
    # URL sends /v<N>/... (mlserve:api.layout perService); both reach the same route.
    app = APIGatewayHttpResolver(strip_prefixes=[f"/{service}"])
    methods: dict[str, list[str]] = {}
    served: list[str] = []

    def add(route: str, function: Callable[[], Response[str]]) -> None:
        method, path = route.split(" ", 1)
        app.route(f"/{version}{path}", method)(function)
        methods.setdefault(base + path, []).append(method)
        served.append(f"{method} {base}{path}")

    def route_function(route: str) -> Callable[[], Response[str]]:
        request_model, response_model = models[route]
        answer = routes[route]

        def run() -> Response[str]:
            if request_model is None:
                result = answer()
            else:
                result = answer(parse_request(app.current_event.raw_event, request_model))
            if not isinstance(result, response_model):
                result = response_model.model_validate(result)
            return Response(200, JSON, result.model_dump_json())

        return run

    health = json.dumps({"status": "ok", "service": service, "version": version,
                         "lifecycle": lifecycle.status})  # fmt: skip
    metadata: dict[str, Any] = {
        "service": service,
        "version": version,
        "major_version": int(version[1:]),
        "model_name": card.name,
        "model_digest": card.digest,
        "trained_on": card.trained_on,
        "contract_hash": None,
        "max_body_bytes": MAX_BODY_BYTES,
        "routes": served,
        "lifecycle": {
            "status": lifecycle.status,
            "deprecated_on": _iso(lifecycle.deprecated_on),
            "sunset_on": _iso(lifecycle.sunset_on),
            "successor": lifecycle.successor_path,
        },
    }

    def metadata_route() -> Response[str]:
        if metadata["contract_hash"] is None:  # schema generation is kept off the cold start
            metadata["contract_hash"] = contract_hash(contract)
        return Response(200, JSON, json.dumps(metadata))

    for route in surface["routes"]:
        add(route, route_function(route))
    add(HEALTH_ROUTE, lambda: Response(200, JSON, health))
    add(METADATA_ROUTE, metadata_route)

    def invalid_request(error: InvalidRequestError) -> Response[str]:
        return _problem(
            400,
            "Invalid request",
            f"The body does not match the {service} {version} request contract; see errors.",
            PROBLEM_INVALID_REQUEST,
            **bounded_errors(error.errors),
        )

    def not_found(_: Exception) -> Response[str]:
        method, path = app.current_event.http_method, app.current_event.path
        if not path.startswith(f"/{service}/"):  # as a service's own API sees it
            path = f"/{service}{path}"
        allowed = methods.get(path)
        if allowed:
            return _problem(
                405,
                "Method Not Allowed",
                f"{path} answers {', '.join(allowed)}, not {method}",
                headers={"Allow": ", ".join(allowed)},
            )
        return _problem(404, "Not Found", f"{service} {version} has no route {method} {path}")

    def unexpected(error: Exception) -> Response[str]:
        log.exception("unhandled error", extra={"service": service, "version": version})
        return _problem(500, "Internal Server Error", "The model failed; the error was logged.")

    app.exception_handler(InvalidRequestError)(invalid_request)
    app.not_found(not_found)
    app.exception_handler(Exception)(unexpected)

    inner = versioned(app.resolve, env)
    namespace = env.get(ENV_METRICS_NAMESPACE)
    count_request = request_counter(namespace, service) if namespace else None
    queue_route = env.get(ENV_QUEUE_ROUTE)
    consume = None
    if queue_route:
        # only a queue version pays for the batch module at cold start
        from mlserve_runtime.batch import consumer, is_queue_event

        if models.get(queue_route, (None, None))[0] is None:
            raise DeploymentError(
                f"{ENV_QUEUE_ROUTE}={queue_route!r} is not a route of {service} {version} that "
                "takes a request; the program sets the queue's route from the contract"
            )
        request_model, response_model = models[queue_route]
        assert request_model is not None
        consume = consumer(
            service=service, version=version, answer=routes[queue_route],
            request_model=request_model, response_model=response_model, lifecycle=lifecycle,
            env=env, max_body_bytes=MAX_BODY_BYTES, log=log, count=count_request,
        )  # fmt: skip
    cold = [True]

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if consume is not None and is_queue_event(event):
            cold[0] = False
            return consume(event, context)
        started = time.perf_counter()
        problems = event_problems(event)
        if problems:
            detail = "Not an API Gateway HTTP API payload 2.0 event; see errors."
            response = problem_response(
                400, "Malformed event", detail, PROBLEM_INVALID_REQUEST, **bounded_errors(problems)
            )
            event = {}
        else:
            try:
                response = inner(event, context)
            except Exception:  # an event the resolver cannot read; still answer in kind
                log.exception("unhandled error outside the routes")
                response = problem_response(500, "Internal Server Error", "The error was logged.")
        status = response.get("statusCode", 200)
        if count_request is not None:
            count_request(version, lifecycle.status, outcome(status), 1)
        log.info(
            "request",
            extra={
                "request_id": (event.get("requestContext") or {}).get("requestId"),
                "aws_request_id": getattr(context, "aws_request_id", None),
                "version": version,
                "route": event.get("routeKey"),
                "path": event.get("rawPath"),
                "status": status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "outcome": outcome(status),
                "cold_start": cold[0],
            },
        )
        cold[0] = False
        return response

    return handler


def _problem(
    status: int, title: str, detail: str, type_: str = BLANK,
    headers: dict[str, str] | None = None, **extensions: Any,
) -> Response[str]:  # fmt: skip
    body = json.dumps(problem_body(status, title, detail, type_, **extensions))
    return Response(status, PROBLEM_JSON, body, headers)


def _iso(day: Any) -> str | None:
    return None if day is None else day.isoformat()
