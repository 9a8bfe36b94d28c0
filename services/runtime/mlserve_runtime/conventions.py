"""mlserve's conventions, each stated once: keys, physical names, routes, lifecycle values, tags,
the function environment's variable names, HTTP lifecycle dates and a version's declared surface.

Standard library only. Shipped inside every function package (with the runtime), imported by the
program and the tooling, and vendored byte for byte into the policy pack (policies/conventions.py,
written by `python -m mlserve generate`), which ships on its own; a test keeps the copies equal.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
from datetime import date
from email.utils import formatdate
from pathlib import Path
from typing import Any, NamedTuple

SERVICE_KEY = r"[a-z][a-z0-9-]{0,39}"
VERSION_KEY = r"v[1-9][0-9]*"
ENVIRONMENT_KEY = r"[a-z][a-z0-9-]{0,31}"
SERVICE = re.compile(rf"^{SERVICE_KEY}$")
VERSION = re.compile(rf"^{VERSION_KEY}$")
ENVIRONMENT = re.compile(rf"^{ENVIRONMENT_KEY}$")
NAME_PREFIX = re.compile(r"^[a-z0-9-]{0,32}$")
NAME_PREFIX_LIMIT = 32
ALIAS_NAME = re.compile(rf"^({ENVIRONMENT_KEY})_({VERSION_KEY})$")
BASE_PATH = re.compile(rf"^/({SERVICE_KEY})/({VERSION_KEY})$")
FUNCTION_NAME_LIMIT = 64  # Lambda function names

ACTIVE, DEPRECATED, RETIRED = "active", "deprecated", "retired"
LIFECYCLES = (ACTIVE, DEPRECATED, RETIRED)
DEPLOYED_LIFECYCLES = (ACTIVE, DEPRECATED)
DEFAULT_DEPRECATION_WINDOW_DAYS = 180

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROUTE_PATH = r"(?:/[A-Za-z0-9._~-]+)+"
ROUTE = re.compile(rf"^({'|'.join(HTTP_METHODS)}) ({ROUTE_PATH})$")
ROUTE_KEY = re.compile(
    rf"^({'|'.join(HTTP_METHODS)}) /({SERVICE_KEY})/({VERSION_KEY})({ROUTE_PATH})$"
)
# A route's key in a service's own API (mlserve:api.layout perService), which the custom domain
# reaches through the API mapping key `<service>`: the public key without `/<service>`.
API_ROUTE_KEY = re.compile(rf"^({'|'.join(HTTP_METHODS)}) /({VERSION_KEY})({ROUTE_PATH})$")
SINGLE_LAYOUT, PER_SERVICE_LAYOUT = "single", "perService"
API_LAYOUTS = (SINGLE_LAYOUT, PER_SERVICE_LAYOUT)
ROUTE_PATH_LIMIT = 128  # characters of a route's path below /<service>/v<N>
HEALTH_ROUTE = "GET /health"
METADATA_ROUTE = "GET /metadata"
RESERVED_ROUTES = (HEALTH_ROUTE, METADATA_ROUTE)
DEFAULT_ROUTES = ("POST /predict",)  # what code that declares no surface serves

TAG_SERVICE = "mlserve:service"
TAG_VERSION = "mlserve:api-version"
TAG_LIFECYCLE = "mlserve:lifecycle"
TAG_ENVIRONMENT = "mlserve:environment"
REQUIRED_TAGS = (TAG_SERVICE, TAG_VERSION, TAG_LIFECYCLE, TAG_ENVIRONMENT)

ENV_SERVICE = "MLSERVE_SERVICE"
ENV_VERSION = "MLSERVE_VERSION"
ENV_ENVIRONMENT = "MLSERVE_ENVIRONMENT"
ENV_LIFECYCLE = "MLSERVE_LIFECYCLE"
ENV_DEPRECATED_ON = "MLSERVE_DEPRECATED_ON"
ENV_SUNSET_ON = "MLSERVE_SUNSET_ON"
ENV_SUCCESSOR_PATH = "MLSERVE_SUCCESSOR_PATH"
ENV_DOCS_URL = "MLSERVE_DOCS_URL"
ENV_QUEUE_ROUTE = "MLSERVE_QUEUE_ROUTE"  # the route a version's work queue messages call
ENV_RESULTS_QUEUE_URL = "MLSERVE_RESULTS_QUEUE_URL"  # where their results go (or a file:// URL)
RESERVED_ENV_PREFIXES = ("MLSERVE_", "AWS_", "POWERTOOLS_")

PROBLEM_INVALID_REQUEST = "tag:mlserve,2026:problems/invalid-request"
PROBLEM_VERSION_SUNSET = "tag:mlserve,2026:problems/version-sunset"

LEDGER_VERSION = 2  # the shape of the ledger the program outputs and the pack reads
# The pack's policies that judge a deployment against the ledger of the last one; the ledger tool
# gives each of them the ledger (and `newStack` for a stack that does not exist yet).
LEDGER_POLICIES = (  # the policies given the ledger; the first owns the report of a bad one
    "no-removal-of-non-deprecated-versions",
    "deprecations-keep-their-promises",
    "versions-keep-their-surface",
    "pinned-versions-exist",
    "ledger-format-current",
)
DEFAULT_MINIMUM_DEPRECATION_WINDOW_DAYS = 90  # the pack's floor, whatever a config says
# The policy that lets a stack deploy only code another stack's ledger shows it deployed
# (`mlserve:promoteFrom`); its `promoteFrom` config holds that stack's ledger.
PROMOTION_POLICY = "releases-promoted-from-tested-stack"

# A version's queues (`queue` in the config): SQS standard queues, names of at most 80
# characters. Results carry the lifecycle as message attributes named like the HTTP headers.
QUEUE_NAME_LIMIT = 80
QUEUE_SUFFIXES = {"work": "", "deadLetter": "-dlq", "results": "-results"}
ATTRIBUTE_DEPRECATION, ATTRIBUTE_SUNSET = "Deprecation", "Sunset"
SQS_EVENT_SOURCE = "aws:sqs"
# The SQS actions of a version's execution role (what its mapping needs; SendMessageBatch needs
# SendMessage), and of its consumers (send work, read results).
WORK_QUEUE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
RESULTS_QUEUE_ACTIONS = ("sqs:SendMessage",)
CONSUMER_SEND_ACTIONS = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")
CONSUMER_RECEIVE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage",
                            "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
                            "sqs:GetQueueUrl")  # fmt: skip
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS: a queue's visibility timeout >= 6x the function timeout

SURFACE_MODULE = "contract.py"
SURFACE_NAME = "SURFACE"
LOCKS_DIR = "contracts"  # contracts/<service>/<vN>/0001.json, 0002.json, ...

JANITOR_PLAN_FILE = "prune_plan.json"  # in the janitor's package: what it prunes, what it keeps
HOOK_CHECKS_FILE = "rollout_checks.json"  # in the hook's package: what to send, what to expect
HOOK_PREFIX = "CodeDeployHook_"  # the prefix AWSCodeDeployRoleForLambda lets CodeDeploy invoke
# (strategy, percent, minutes) -> CodeDeploy's predefined Lambda deployment config
CODEDEPLOY_CONFIGS: dict[tuple[str, int | None, int | None], str] = {
    ("allAtOnce", None, None): "CodeDeployDefault.LambdaAllAtOnce",
    **{("canary", 10, m): f"CodeDeployDefault.LambdaCanary10Percent{m}Minutes"
       for m in (5, 10, 15, 30)},
    **{("linear", 10, m): f"CodeDeployDefault.LambdaLinear10PercentEvery{m}Minute"
       + ("s" if m > 1 else "") for m in (1, 2, 3, 10)},
}  # fmt: skip
IN_FLIGHT_DEPLOYMENTS = ["Created", "Queued", "InProgress", "Baking", "Ready"]  # CodeDeploy
MAX_TRAFFIC_SHIFT_MINUTES = 2880  # 48 hours between a Lambda deployment's first and last shift
DAY_SECONDS = 86_400

# The stage's JSON access log, one object per request. API Gateway writes "-" for an empty
# variable (the identity of an unsigned call). `mlserve usage` reads these names, and still reads
# lines from before the caller fields existed.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "requestTimeEpoch": "$context.requestTimeEpoch",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "integrationLatency": "$context.integrationLatency",
    "responseLatency": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "userArn": "$context.identity.userArn",
    "caller": "$context.identity.caller",
    "accountId": "$context.identity.accountId",
}
ACCESS_LOG_SERVICE = "service"  # the literal field a service's own API adds to its lines
ACCESS_LOG_FORMAT_LIMIT = 3 * 1024  # bytes of a stage's access-log format
ACCESS_LOG_EMPTY = "-"
CALLER_KEYS = ("userArn", "userAgent")  # who calls: the signed principal, else the user agent

# The runtime's EMF metric, one line per request; its dimensions stay low-cardinality.
METRIC_REQUESTS = "Requests"
METRIC_DIMENSIONS = ("service", "version", "lifecycle", "outcome")
OUTCOMES = {200: "ok", 400: "invalid_request", 404: "not_found", 405: "method_not_allowed",
            410: "gone"}  # fmt: skip
CLIENT_ERROR, SERVER_ERROR = "client_error", "error"  # any other 4xx, any 5xx
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
EPOCH = date(1970, 1, 1)


class VersionRef(NamedTuple):
    """A service's major version as resources and paths name it, e.g. churn v2."""

    service: str
    version: str

    @property
    def major(self) -> int:
        """The major number, e.g. 2."""
        return int(self.version[1:])

    def __str__(self) -> str:
        return f"{self.service} {self.version}"


def function_name(name_prefix: str, service: str, version: str) -> str:
    """The Lambda function name of a service version, e.g. `dev-churn_v2`."""
    return f"{name_prefix}{service}_{version}"


def alias_name(environment: str, version: str) -> str:
    """The alias name of a version in an environment, e.g. `prod_v2`."""
    return f"{environment}_{version}"


def logical_name(service: str, version: str) -> str:
    """A version's Pulumi logical name, the same in every stack, e.g. `churn-v2`."""
    return f"{service}-{version}"


def base_path(service: str, version: str) -> str:
    """A version's public base path, e.g. `/churn/v2`."""
    return f"/{service}/{version}"


def minimum_visibility_timeout(function_timeout: int, batch_window: int) -> int:
    """The least visibility timeout a work queue needs: 6x its function's timeout (AWS's advice:
    a throttled batch is retried before its messages show again) plus the batching window."""
    return VISIBILITY_TIMEOUT_FACTOR * function_timeout + batch_window


def queue_name(
    name_prefix: str, service: str, version: str, environment: str, kind: str = "work"
) -> str:
    """A version's work, dead-letter or results queue, e.g. `churn_v2-prod-results`."""
    return f"{name_prefix}{service}_{version}-{environment}{QUEUE_SUFFIXES[kind]}"


def route_key(service: str, version: str, route: str) -> str:
    """A version route's public key from its relative form: `POST /predict` of churn v2 is
    `POST /churn/v2/predict`."""
    method, path = route.split(" ", 1)
    return f"{method} {base_path(service, version)}{path}"


def api_name(name_prefix: str, environment: str, service: str | None = None) -> str:
    """The stack's HTTP API, `<prefix>mlserve-<environment>`, or on the per-service layout a
    service's own, `<prefix>mlserve-<environment>-<service>`."""
    stack_api = f"{name_prefix}mlserve-{environment}"
    return stack_api if service is None else f"{stack_api}-{service}"


def api_route_key(public_key: str, per_service: bool) -> str:
    """The key a route has in its API: the public key on the stack's single API; on a service's
    own API the key without `/<service>` (`POST /churn/v2/predict` is `POST /v2/predict`)."""
    if not per_service:
        return public_key
    method, path = public_key.split(" ", 1)
    return f"{method} /{path.split('/', 2)[2]}"


def public_route_key(key: str, service: str | None) -> str:
    """The public key of a route as its API (or its access log line) has it: `service` names the
    API's service on the per-service layout, None on the single API, whose keys are public."""
    if service is None:
        return key
    method, path = key.split(" ", 1)
    return f"{method} /{service}{path}"


def access_log_format(service: str | None) -> dict[str, str]:
    """A stage's access-log format: ACCESS_LOG_FORMAT, and on a service's own API the service as
    a literal, so one log group tells every line's public route (public_route_key)."""
    return (
        ACCESS_LOG_FORMAT if service is None else {**ACCESS_LOG_FORMAT, ACCESS_LOG_SERVICE: service}
    )


def logged_route_key(entry: dict[str, Any]) -> str | None:
    """The public route key of an access-log line, None when the line has none."""
    key, service = entry.get("routeKey"), entry.get(ACCESS_LOG_SERVICE)
    if not isinstance(key, str) or " " not in key:
        return key if isinstance(key, str) else None
    return public_route_key(key, service if isinstance(service, str) else None)


def parse_function_name(name_prefix: str, name: str) -> VersionRef | None:
    """The version a function name `<prefix><service>_v<N>` stands for, or None."""
    if not name.startswith(name_prefix):
        return None
    service, separator, version = name[len(name_prefix) :].rpartition("_")
    if not separator or not SERVICE.fullmatch(service) or not VERSION.fullmatch(version):
        return None
    return VersionRef(service, version)


def deprecation_moment(day: date) -> int:
    """Epoch seconds at which a `deprecatedOn` day starts (00:00:00Z)."""
    return (day - EPOCH).days * DAY_SECONDS


def sunset_moment(day: date) -> int:
    """Epoch seconds of the last moment a version answers on its `sunsetOn` day (23:59:59Z)."""
    return deprecation_moment(day) + DAY_SECONDS - 1


def http_date(epoch_seconds: int) -> str:
    """An IMF-fixdate (RFC 9110), as the Sunset header needs, e.g. `Wed, 30 Jun 2027 23:59:59
    GMT` (email.utils writes the fixed English names, whatever the locale)."""
    return formatdate(epoch_seconds, usegmt=True)


def deprecation_header(day: date) -> str:
    """The Deprecation header value (RFC 9745): `@<epoch seconds>` of the day's start."""
    return f"@{deprecation_moment(day)}"


def declared_surface(source: str) -> dict[str, Any] | None:
    """A version's surface as its `contract.py` declares it, read without importing anything:
    the literal `SURFACE = {"service": ..., "version": ..., "routes": {"POST /predict":
    {"request": "<model>", "response": "<model>"}}}`. None when the module declares none; raises
    ValueError when the declaration is not such a literal."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == SURFACE_NAME for t in targets):
            try:
                surface = ast.literal_eval(value)
            except ValueError:
                raise ValueError(f"{SURFACE_NAME} must be a literal (no names or calls)") from None
            problems = surface_problems(surface)
            if problems:
                raise ValueError(f"{SURFACE_NAME}: " + "; ".join(problems))
            return surface  # type: ignore[no-any-return]
    return None


def surface_problems(surface: Any) -> list[str]:
    """What makes a surface declaration unusable, if anything."""
    if not isinstance(surface, dict):
        return ["must be a dict with service, version and routes"]
    known = ("service", "version", "routes")
    problems = [f"unknown key {key!r}" for key in surface if key not in known]
    if not isinstance(surface.get("service"), str) or not SERVICE.fullmatch(surface["service"]):
        problems.append(f"service {surface.get('service')!r} is not a service key")
    if not isinstance(surface.get("version"), str) or not VERSION.fullmatch(surface["version"]):
        problems.append(f"version {surface.get('version')!r} is not v1, v2, ...")
    routes = surface.get("routes")
    if not isinstance(routes, dict) or not routes:
        return [*problems, "routes must map at least one 'METHOD /path' to its models"]
    for route, models in routes.items():
        if not isinstance(route, str) or not ROUTE.fullmatch(route):
            problems.append(f"route {route!r} is not 'METHOD /path'")
        elif route in RESERVED_ROUTES:
            problems.append(f"route {route!r} is reserved; every version answers it already")
        if not isinstance(models, dict) or set(models) - {"request", "response", "example"}:
            problems.append(
                f"route {route!r} must map to {{'request': ..., 'response': ...}} (and an "
                "optional 'example' request body)"
            )
        elif "example" in models and not isinstance(models["example"], dict):
            problems.append(f"route {route!r}: 'example' must be a request body (a dict)")
        elif not isinstance(models.get("response"), str) or not isinstance(
            models.get("request"), str | type(None)
        ):
            problems.append(f"route {route!r} names its models by their class names")
    return problems


def shift_properties(deployment_info: Any) -> dict[str, Any]:
    """The Properties of a Lambda deployment's AppSpec (Name, Alias, CurrentVersion,
    TargetVersion), as GetDeployment's `deploymentInfo` carries it; empty without an AppSpec."""
    revision = deployment_info.get("revision") or {}
    content = (revision.get("appSpecContent") or {}).get("content")
    if not content:
        return {}
    resource = json.loads(content)["Resources"][0]
    return dict(next(iter(resource.values()))["Properties"])


def codedeploy_application(name_prefix: str, environment: str) -> str:
    """The stack's CodeDeploy application, e.g. `dev-mlserve-dev`; each rolled-out version's
    deployment group is named as its function."""
    return f"{name_prefix}mlserve-{environment}"


def image_repository(name_prefix: str, service: str) -> str:
    """The stack's ECR repository of a service's image versions, e.g. `mlserve/churn`."""
    return f"{name_prefix}mlserve/{service}"


def janitor_function_name(name_prefix: str, environment: str) -> str:
    """The scheduled pruning function of a stack (`mlserve:pruning`), e.g. `mlserve-prod-prune`."""
    return f"{name_prefix}mlserve-{environment}-prune"


def layer_suffix(runtime: str, architecture: str) -> str:
    """The platform part of a dependency layer's names, e.g. `python312-arm64`."""
    return f"{runtime.replace('.', '')}-{architecture.replace('_', '-')}"


def layer_name(name_prefix: str, runtime: str, architecture: str) -> str:
    """The dependency layer's name for a platform, e.g. `dev-mlserve-deps-python312-arm64`."""
    return f"{name_prefix}mlserve-deps-{layer_suffix(runtime, architecture)}"


def hook_function_name(name_prefix: str, environment: str) -> str:
    """The stack's pre-traffic hook function, e.g. `CodeDeployHook_dev-mlserve-dev`."""
    return f"{HOOK_PREFIX}{name_prefix}mlserve-{environment}"


def upgraded_lock(lock: dict[str, Any]) -> dict[str, Any]:
    """A lock in today's per-route form; the first locks held one `request` and one `response`,
    the models of the default route."""
    if "routes" in lock:
        return lock
    return {
        "routes": {DEFAULT_ROUTES[0]: {"request": lock["request"], "response": lock["response"]}}
    }


def lock_files(project_root: Path, service: str, version: str) -> list[Path]:
    """A version's lock files, oldest first."""
    folder = project_root / LOCKS_DIR / service / version
    return sorted(folder.glob("[0-9][0-9][0-9][0-9].json")) if folder.is_dir() else []


def newest_lock(project_root: Path, service: str, version: str) -> dict[str, Any] | None:
    """The newest lock of a version in today's form, or None when it has none."""
    files = lock_files(project_root, service, version)
    return upgraded_lock(json.loads(files[-1].read_text())) if files else None


def outcome(status: int) -> str:
    """The `outcome` dimension of an HTTP status."""
    return OUTCOMES.get(status, SERVER_ERROR if status >= 500 else CLIENT_ERROR)


def metrics_namespace(name_prefix: str, environment: str) -> str:
    """The CloudWatch namespace of a stack's runtime metrics, e.g. `mlserve/prod`."""
    return f"{name_prefix}mlserve/{environment}"


def caller_of(entry: dict[str, Any]) -> str | None:
    """Who made a request, from its access-log object: the signed IAM principal (an assumed
    role's session left out, so one role is one caller), else the user agent; None when the
    line names neither (an unsigned call without a user agent, or a line from an older format)."""
    for key in CALLER_KEYS:
        value = entry.get(key)
        if isinstance(value, str) and value and value != ACCESS_LOG_EMPTY:
            if key == "userArn" and ":assumed-role/" in value:
                return value.rsplit("/", 1)[0]
            return value
    return None


def code_sha256(data: bytes) -> str:
    """A package's hash as Lambda reports it (`CodeSha256`: base64 of the SHA-256)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def tree_sha256(folder: Path) -> str:
    """The identity of a folder's files (a layer's `python/` tree before the provider zips it):
    the SHA-256 over every file's relative path and bytes, in path order, base64 like
    `code_sha256`. Timestamps and modes are left out; they do not change what runs."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix().encode()
        data = path.read_bytes()
        digest.update(len(name).to_bytes(4, "big") + name + len(data).to_bytes(8, "big") + data)
    return base64.b64encode(digest.digest()).decode()
