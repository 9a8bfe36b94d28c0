"""The stack config as one family of frozen models: every key as users write it (camelCase
aliases), its constraint and its default, stated once. What a version is derived from its service
and stack (its function name, effective runtime, routes, environment) are properties."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from components.settings.errors import Problems
from mlserve_runtime.conventions import (
    CODEDEPLOY_CONFIGS,
    DEFAULT_DEPRECATION_WINDOW_DAYS,
    DEFAULT_ROUTES,
    ENV_DEPRECATED_ON,
    ENV_DOCS_URL,
    ENV_ENVIRONMENT,
    ENV_LIFECYCLE,
    ENV_METRICS_NAMESPACE,
    ENV_QUEUE_ROUTE,
    ENV_RESULTS_QUEUE_URL,
    ENV_SERVICE,
    ENV_SUCCESSOR_PATH,
    ENV_SUNSET_ON,
    ENV_VERSION,
    ENVIRONMENT,
    LIFECYCLES,
    MAX_TRAFFIC_SHIFT_MINUTES,
    NAME_PREFIX,
    NAME_PREFIX_LIMIT,
    PER_SERVICE_LAYOUT,
    RESERVED_ENV_PREFIXES,
    RESERVED_ROUTES,
    ROUTE,
    ROUTE_PATH_LIMIT,
    SERVICE,
    VERSION,
    alias_name,
    api_name,
    api_route_key,
    base_path,
    function_name,
    logical_name,
    metrics_namespace,
    newest_lock,
    queue_name,
    route_key,
)

if TYPE_CHECKING:
    from components.settings.checks import EntryCheck

# The newest Lambda Python runtime whose bytecode packages can carry (components.bytecode):
# python3.14 is deprecated on the same day (2029-06-30) but no Debian stable release ships it yet.
DEFAULT_RUNTIME: Final = "python3.13"
HOOK_DEFAULT_PLATFORM = (DEFAULT_RUNTIME, "arm64")  # the hook's when only images roll out
STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")  # Pulumi's stack names
ECR_REPOSITORY = r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([a-z0-9][a-z0-9._/-]{1,255})"
IMAGE_URI = re.compile(rf"^{ECR_REPOSITORY}@sha256:([0-9a-f]{{64}})$")
IMAGE_TAGGED = re.compile(rf"^{ECR_REPOSITORY}(:[A-Za-z0-9_.-]+)?$")
Runtime = Literal["python3.10", "python3.11", "python3.12", "python3.13", "python3.14"]
RUNTIMES: tuple[str, ...] = get_args(Runtime)
Architecture = Literal["arm64", "x86_64"]
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)
Lifecycle = Literal["active", "deprecated", "retired"]
assert get_args(Lifecycle) == LIFECYCLES
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)  # fmt: skip  (CloudWatch's values; 0 = never)
ENV_VAR_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]+$")  # Lambda's pattern: 2 characters or more
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")
CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]+$")
DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
HOSTED_ZONE_ID = re.compile(r"^Z[0-9A-Z]{1,31}$")
DESCRIPTION_LIMIT = 256  # Lambda function descriptions
HANDLER_LIMIT = 128  # Lambda handler names
MAX_ROUTES = 300  # HTTP API quota: routes per API (AWS can raise it for one API on request)


def _text(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise PydanticCustomError("mlserve_pattern", f"{value!r} is not {what}")
        return value

    return check


def _day(value: Any) -> Any:
    """A calendar day written as YYYY-MM-DD (YAML's unquoted dates arrive as that text too)."""
    if isinstance(value, date) or (
        isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
    ):
        return value
    raise PydanticCustomError(
        "mlserve_day", f"{value!r} is not a day; write it as YYYY-MM-DD, e.g. 2027-06-30"
    )


def _route(value: str) -> str:
    if not ROUTE.fullmatch(value):
        raise PydanticCustomError(
            "mlserve_route",
            f"{value!r} is not 'METHOD /path'; use GET, POST, PUT, PATCH or DELETE, one space and "
            "a path of letters, digits, '.', '_', '~', '-' (e.g. 'POST /predict')",
        )
    if value in RESERVED_ROUTES:
        raise PydanticCustomError(
            "mlserve_route", f"{value!r} is reserved; every version answers it already"
        )
    if len(value.split(" ", 1)[1]) > ROUTE_PATH_LIMIT:
        raise PydanticCustomError(
            "mlserve_route", f"the path is longer than {ROUTE_PATH_LIMIT} characters; shorten it"
        )
    return value


def _env_name(value: str) -> str:
    if not ENV_VAR_NAME.fullmatch(value) or value.startswith(RESERVED_ENV_PREFIXES):
        raise PydanticCustomError(
            "mlserve_env_name",
            f"{value!r} is not allowed; use a letter, then letters, digits and '_' (2 characters "
            f"or more) and none of the reserved prefixes {', '.join(RESERVED_ENV_PREFIXES)}",
        )
    return value


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise PydanticCustomError(
            "mlserve_retention",
            f"{value} is not a CloudWatch retention; allowed: "
            f"{', '.join(map(str, LOG_RETENTION_DAYS))}",
        )
    return value


ServiceKey = Annotated[
    str,
    AfterValidator(
        _text(SERVICE, "a service key: 1-40 lowercase letters, digits and '-', starting with a "
              "letter (e.g. churn, fraud-score)")
    ),
]  # fmt: skip
VersionKey = Annotated[
    str, AfterValidator(_text(VERSION, "a version key; use v1, v2, ... (^v[1-9][0-9]*$)"))
]
Day = Annotated[date, BeforeValidator(_day)]


def _image_digest(value: str) -> str:
    if IMAGE_URI.fullmatch(value):
        return value
    hint = (
        "a tag is resolved by Lambda once, when the function is created or updated, so the "
        "version would not say which image it runs; give the digest instead"
        if IMAGE_TAGGED.fullmatch(value)
        else "not an ECR image reference"
    )
    raise PydanticCustomError(
        "mlserve_image",
        f"{value!r}: {hint}: <account>.dkr.ecr.<region>.amazonaws.com/<repository>@sha256:<64 "
        "hex> (`docker inspect --format '{{index .RepoDigests 0}}' IMAGE` prints it)",
    )


def _published_version(value: int) -> int:
    if value < 1:
        raise PydanticCustomError(
            "mlserve_pin",
            f"{value} is not a published Lambda version; use a positive integer such "
            "as 3 (a version this function has published)",
        )
    return value


RouteText = Annotated[StrictStr, AfterValidator(_route)]
EnvName = Annotated[str, AfterValidator(_env_name)]


class Model(BaseModel):
    """Keys as users write them (camelCase), nothing unknown, frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel)


class Route(BaseModel):
    """One route of a version, relative to the version's base path `/<service>/v<N>`."""

    model_config = ConfigDict(frozen=True)

    method: str
    path: str

    @classmethod
    def parse(cls, text: str) -> Route:
        """A route from its text form, e.g. `POST /predict`."""
        method, path = text.split(" ", 1)
        return cls(method=method, path=path)

    @property
    def key(self) -> str:
        """The route as written, e.g. `POST /predict`."""
        return f"{self.method} {self.path}"

    @property
    def slug(self) -> str:
        """A kebab-case form for logical names, e.g. `post-predict`."""
        return re.sub(r"[^a-z0-9]+", "-", self.key.lower()).strip("-")


RESERVED = tuple(Route.parse(route) for route in RESERVED_ROUTES)


class RolloutAlarms(Model):
    """The alarms on the new version's metrics that stop a rollout and roll it back."""

    error_rate: StrictFloat | StrictInt = Field(default=0.01, gt=0, lt=1)
    """Errors / invocations of the new version over a minute."""
    p99_latency_ms: StrictInt = Field(default=1000, ge=1, le=900_000)
    throttles: StrictInt = Field(default=1, ge=1)
    """Throttled calls of the alias in a minute (throttled calls never reach a version)."""


class Rollout(Model):
    """How CodeDeploy moves the alias to a newly published version: at once, a canary share
    first, or in equal steps; any alarm rolls it back."""

    strategy: Literal["canary", "linear", "allAtOnce"]
    percent: StrictInt = Field(default=10, ge=1, le=99)
    minutes: StrictInt = Field(default=5, ge=1, le=MAX_TRAFFIC_SHIFT_MINUTES)
    alarms: RolloutAlarms = Field(default_factory=RolloutAlarms)

    @property
    def shift_minutes(self) -> int:
        """Minutes from the first to the last traffic shift."""
        if self.strategy == "allAtOnce":
            return 0
        if self.strategy == "canary":
            return self.minutes
        return self.minutes * (-(-100 // self.percent) - 1)

    @property
    def predefined_config(self) -> str | None:
        """CodeDeploy's predefined deployment config for this rollout, if one matches."""
        if self.strategy == "allAtOnce":
            return CODEDEPLOY_CONFIGS[("allAtOnce", None, None)]
        return CODEDEPLOY_CONFIGS.get((self.strategy, self.percent, self.minutes))


SCHEDULE = re.compile(
    r"^(rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)|cron\([^()]+\))$"
)


class Pruning(Model):
    """The scheduled janitor: `mlserve prune --apply --keep N` on an EventBridge schedule."""

    keep: StrictInt = Field(default=5, ge=1, le=100)
    schedule: Annotated[
        StrictStr,
        AfterValidator(_text(SCHEDULE, "an EventBridge Scheduler expression such as "
                             "'rate(1 day)', 'rate(6 hours)' or 'cron(0 3 * * ? *)'")),
    ] = "rate(1 day)"  # fmt: skip


class Queue(Model):
    """Batch callers of a version: a work queue its alias consumes in batches, a dead-letter
    queue for messages that kept failing and a results queue. Ranges are AWS's."""

    batch_size: StrictInt = Field(default=10, ge=1, le=10_000)
    """Messages per invocation (SQS standard queues allow 10,000 with a batching window)."""
    batch_window_seconds: StrictInt = Field(default=0, ge=0, le=300)
    """How long Lambda gathers messages before invoking (needed for batchSize over 10)."""
    max_concurrency: StrictInt = Field(default=5, ge=2, le=1000)
    """The most concurrent invocations the queue may cause (Lambda's ScalingConfig)."""
    max_receive_count: StrictInt = Field(default=5, ge=1, le=1000)
    """Receives before a message moves to the dead-letter queue."""
    route: RouteText | None = None
    """The route messages call; by default the version's only route that takes a request."""
    oldest_message_alarm_seconds: StrictInt = Field(default=900, ge=60, le=1_209_600)
    """The alarm on the work queue's oldest message fires above this age."""


class Canary(Model):
    """A share of the alias's traffic sent to the newest published version while pinned."""

    weight: StrictFloat | StrictInt = Field(gt=0, lt=1)


class VersionSettings(Model):
    """One major version of a service as its stack config lists it; what it inherits from its
    service and stack is read through the properties."""

    code: Path | None = None
    image: Annotated[StrictStr, AfterValidator(_image_digest)] | None = None
    local_code: Path | None = Field(default=None, alias="localCode")
    status: Lifecycle
    deprecated_on: Day | None = None
    sunset_on: Day | None = None
    successor: VersionKey | None = None
    changelog: StrictStr = Field(default="", max_length=DESCRIPTION_LIMIT)
    pin: Annotated[StrictInt, AfterValidator(_published_version)] | None = None
    canary: Canary | None = None
    provisioned_concurrency: StrictInt | None = Field(default=None, ge=1)
    rollout_override: Rollout | None = Field(default=None, alias="rollout")
    queue_override: Queue | None = Field(default=None, alias="queue")
    environment: dict[EnvName, StrictStr] = Field(default_factory=dict)
    runtime_override: Runtime | None = Field(default=None, alias="runtime")
    architecture_override: Architecture | None = Field(default=None, alias="architecture")
    handler_override: StrictStr | None = Field(default=None, alias="handler", max_length=128)
    memory_override: StrictInt | None = Field(default=None, alias="memoryMb", ge=128, le=10240)
    timeout_override: StrictInt | None = Field(default=None, alias="timeoutSeconds", ge=1, le=900)

    _key: str = PrivateAttr("")
    _service: ServiceSettings | None = PrivateAttr(None)
    _surface: dict[str, Any] | None = PrivateAttr(None)

    @field_validator("code", "local_code", mode="after")
    @classmethod
    def _in_project(cls, code: Path | None, info: ValidationInfo) -> Path | None:
        root = (info.context or {}).get("project_root")
        return code if code is None or root is None else Path(root) / code

    @property
    def key(self) -> str:
        """The version key, e.g. `v2`."""
        return self._key

    @property
    def major(self) -> int:
        """The major number, e.g. 2."""
        return int(self._key[1:])

    @property
    def owner(self) -> ServiceSettings:
        """The service this version belongs to."""
        assert self._service is not None, "a VersionSettings is read through its service"
        return self._service

    @property
    def service(self) -> str:
        """The service key, e.g. `churn`."""
        return self.owner.key

    @property
    def runtime(self) -> str:
        """The Lambda runtime: the version's own, else the service's."""
        return self.runtime_override or self.owner.runtime

    @property
    def architecture(self) -> str:
        """The CPU architecture: the version's own, else the service's."""
        return self.architecture_override or self.owner.architecture

    @property
    def handler(self) -> str:
        """The handler as `module.function`: the version's own, else the service's."""
        return self.handler_override or self.owner.handler

    @property
    def memory_mb(self) -> int:
        """Memory in MB: the version's own, else the service's."""
        return self.memory_override or self.owner.memory_mb

    @property
    def timeout_seconds(self) -> int:
        """The function timeout: the version's own, else the service's."""
        return self.timeout_override or self.owner.timeout_seconds

    @property
    def rollout(self) -> Rollout | None:
        """How CodeDeploy shifts this version's alias: its own rollout, else (for an active
        version) its service's; None when the alias moves at once with `pulumi up`."""
        if self.rollout_override is not None:
            return self.rollout_override
        return self.owner.rollout if self.status == "active" else None

    @property
    def queue(self) -> Queue | None:
        """The version's batch queues: its own `queue`, else its service's; None without."""
        return self.queue_override or self.owner.queue

    @property
    def queue_route(self) -> Route | None:
        """The route work messages call: `queue.route`, else the only route with a request
        model; None without a queue or when that is ambiguous (the checks report it)."""
        if self.queue is None:
            return None
        if self.queue.route is not None:
            return Route.parse(self.queue.route)
        takes = self.routes_with_requests
        return takes[0] if len(takes) == 1 else None

    @property
    def routes_with_requests(self) -> list[Route]:
        """The version's routes that take a request body: those whose declared request model is
        set, or for code that declares nothing, every route but GETs."""
        if self._surface is None:
            return [route for route in self.routes if route.method != "GET"]
        return [Route.parse(key) for key, models in self._surface["routes"].items()
                if models.get("request")]  # fmt: skip

    def queue_name(self, kind: str = "work") -> str:
        """The name of the version's work, deadLetter or results queue."""
        stack = self.owner.stack
        return queue_name(stack.name_prefix, self.service, self.key, stack.environment, kind)

    def queue_variables(self, results_url: str) -> dict[str, str]:
        """What a queue version's environment has besides `variables`: the route its messages
        call and its results queue's URL (known once the queue exists)."""
        if self.queue_route is None:
            return {}
        return {ENV_QUEUE_ROUTE: self.queue_route.key, ENV_RESULTS_QUEUE_URL: results_url}

    @property
    def canary_weight(self) -> float | None:
        """The canary's share of traffic, if any."""
        return float(self.canary.weight) if self.canary is not None else None

    @property
    def deployed(self) -> bool:
        """Whether the version has resources: everything but a retired tombstone."""
        return self.status != "retired"

    @property
    def function_name(self) -> str:
        """The Lambda function name, e.g. `dev-churn_v2`."""
        return function_name(self.owner.stack.name_prefix, self.service, self.key)

    @property
    def alias_name(self) -> str:
        """The environment's alias name, e.g. `prod_v2`."""
        return alias_name(self.owner.stack.environment, self.key)

    @property
    def base_path(self) -> str:
        """The version's HTTP base path, e.g. `/churn/v2`."""
        return base_path(self.service, self.key)

    @property
    def logical_name(self) -> str:
        """The stable Pulumi logical name, e.g. `churn-v2`."""
        return logical_name(self.service, self.key)

    @property
    def surface(self) -> dict[str, Any] | None:
        """What the version's code declares it answers (contract.py's SURFACE), if anything."""
        return self._surface

    @property
    def source(self) -> Path | None:
        """The folder holding the version's code: its `code`, or for an image version its
        `localCode` (the code the image holds), which the gate, docs, client and local API read;
        None for an image version that gives no localCode."""
        return self.code if self.image is None else self.local_code

    @property
    def image_digest(self) -> str | None:
        """The hex SHA-256 of an image version's image (Lambda's CodeSha256 for images)."""
        match = IMAGE_URI.fullmatch(self.image) if self.image else None
        return match.group(4) if match else None

    @property
    def image_repository(self) -> tuple[str, str, str] | None:
        """(account, region, repository) of an image version's image."""
        match = IMAGE_URI.fullmatch(self.image) if self.image else None
        return (match.group(1), match.group(2), match.group(3)) if match else None

    @property
    def routes(self) -> tuple[Route, ...]:
        """The version's own routes: those its code declares, else its service's `routes`, else
        the default `POST /predict`."""
        if self._surface is not None:
            return tuple(Route.parse(route) for route in self._surface["routes"])
        return tuple(Route.parse(route) for route in self.owner.routes or DEFAULT_ROUTES)

    @property
    def contract_checks(self) -> dict[str, Any]:
        """What the contract check sends and expects (mlserve_runtime.contract_check): the base
        path and, per declared route, its example request and its locked response schema."""
        root = self.owner.stack.project_root
        lock = newest_lock(root, self.service, self.key) or {"routes": {}}
        routes = (self._surface or {}).get("routes", {})
        return {
            "basePath": self.base_path,
            "routes": {
                route: {
                    "example": models.get("example"),
                    "response": lock["routes"].get(route, {}).get("response", {}),
                }
                for route, models in routes.items()
            },
        }

    @property
    def all_routes(self) -> tuple[Route, ...]:
        """The version's routes plus the reserved ones every version answers."""
        return self.routes + RESERVED

    @property
    def route_keys(self) -> list[str]:
        """The public route key of each of all_routes, e.g. `POST /churn/v2/predict`."""
        return [route_key(self.service, self.key, route.key) for route in self.all_routes]

    @property
    def api_route_keys(self) -> list[str]:
        """Each of route_keys as its API has it (`POST /v2/predict` on a service's own API)."""
        per_service = self.owner.stack.api.per_service
        return [api_route_key(key, per_service) for key in self.route_keys]

    @property
    def variables(self) -> dict[str, str]:
        """The function's whole environment: the version's own variables plus the MLSERVE_*
        facts the runtime reads (the local API sets exactly these too)."""
        stack = self.owner.stack
        variables = {
            **self.environment,
            ENV_SERVICE: self.service,
            ENV_VERSION: self.key,
            ENV_ENVIRONMENT: stack.environment,
            ENV_LIFECYCLE: self.status,
            "POWERTOOLS_SERVICE_NAME": self.service,
            ENV_METRICS_NAMESPACE: metrics_namespace(stack.name_prefix, stack.environment),
        }
        if self.deprecated_on is not None:
            variables[ENV_DEPRECATED_ON] = self.deprecated_on.isoformat()
        if self.sunset_on is not None:
            variables[ENV_SUNSET_ON] = self.sunset_on.isoformat()
        if self.successor is not None:
            variables[ENV_SUCCESSOR_PATH] = base_path(self.service, self.successor)
        if stack.api.docs_url is not None:
            variables[ENV_DOCS_URL] = f"{stack.api.docs_url.rstrip('/')}{self.base_path}"
        return variables


class Consumer(Model):
    """An IAM role allowed to call some versions of a service."""

    role: StrictStr
    versions: list[VersionKey] = Field(min_length=1)

    @field_validator("role", mode="after")
    @classmethod
    def _role_arn(cls, role: str) -> str:
        if not ROLE_ARN.fullmatch(role):
            raise PydanticCustomError(
                "mlserve_role",
                f"{role!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            )
        return role

    @property
    def role_arn(self) -> str:
        """The role's ARN."""
        return self.role

    @property
    def account_id(self) -> str:
        """The 12-digit account the role lives in."""
        match = ROLE_ARN.fullmatch(self.role)
        assert match is not None
        return match.group(1)

    @property
    def role_name(self) -> str:
        """The role's name (the last part of its ARN)."""
        return self.role.rsplit("/", 1)[1]


def _each_entry(
    value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo, field: str,
    model: type[BaseModel], check: EntryCheck,
) -> Any:  # fmt: skip
    """Validate a mapping of entries one by one, so that one bad entry does not hide the others'
    problems: each entry's errors go to the problems sink and the entry is left out; every entry
    that validates is named, and checked by `check` at its key path."""
    problems: Problems | None = (info.context or {}).get("problems")
    if problems is None or not isinstance(value, Mapping) or not value:
        return handler(value)  # the field's own constraints (a mapping, not empty) speak
    valid: dict[str, Any] = {}
    for key, item in value.items():
        with problems.entry(field, str(key)) as where:
            try:
                entry = handler({key: item})
            except ValidationError as error:
                problems.add_validation_error(error, model, where, entry_key=True)
                entry = _without_unknown_keys(key, item, error, handler)
                if entry is None:
                    problems.invalid.add(where)
                    continue
            for name, validated in entry.items():
                validated._key = name
                check(validated, where, info)
                valid[name] = validated
    return valid


def _without_unknown_keys(
    key: Any, item: Any, error: ValidationError, handler: ValidatorFunctionWrapHandler
) -> dict[str, Any] | None:
    """The entry read without the unknown keys of its own level, when those were its only
    problems, so a typo does not hide the rules that need the entry (they had no effect)."""
    errors = error.errors()
    if not isinstance(item, Mapping) or any(
        e["type"] != "extra_forbidden" or len(e["loc"]) != 2 for e in errors
    ):
        return None
    unknown = {e["loc"][1] for e in errors}
    try:
        entry: dict[str, Any] = handler({key: {k: v for k, v in item.items() if k not in unknown}})
    except ValidationError:
        return None
    return entry


class ServiceSettings(Model):
    """One model service: its defaults for every version, its access rules and its versions."""

    description: StrictStr = ""
    runtime: Runtime = DEFAULT_RUNTIME
    architecture: Architecture = "arm64"
    handler: StrictStr = Field(default="app.handler", max_length=HANDLER_LIMIT)
    memory_mb: StrictInt = Field(default=512, ge=128, le=10240)
    timeout_seconds: StrictInt = Field(default=10, ge=1, le=900)
    routes: list[RouteText] | None = Field(default=None, min_length=1)
    """Routes of versions whose code declares none (else the code's declaration rules)."""
    rollout: Rollout | None = None
    """The rollout of every active version that sets none of its own."""
    queue: Queue | None = None
    """The batch queues of every version that sets none of its own."""
    auth: Literal["none", "iam"] = "none"
    consumers: list[Consumer] = Field(default_factory=list)
    versions: dict[VersionKey, VersionSettings] = Field(min_length=1)

    _key: str = PrivateAttr("")
    _stack: Settings | None = PrivateAttr(None)

    @field_validator("versions", mode="wrap")
    @classmethod
    def _each_version(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        from components.settings.checks import check_version

        versions = _each_entry(value, handler, info, "versions", VersionSettings, check_version)
        return dict(sorted(versions.items(), key=lambda item: int(item[0][1:])))

    def model_post_init(self, context: Any, /) -> None:
        """Every version knows its service."""
        for version in self.versions.values():
            version._service = self

    @property
    def key(self) -> str:
        """The service key, e.g. `churn`."""
        return self._key

    @property
    def stack(self) -> Settings:
        """The stack this service belongs to."""
        assert self._stack is not None, "a ServiceSettings is read through its stack's settings"
        return self._stack

    @property
    def deployed_versions(self) -> list[VersionSettings]:
        """Versions that have resources (not retired)."""
        return [version for version in self.versions.values() if version.deployed]


class Throttle(Model):
    """The stage's default route throttling."""

    burst_limit: StrictInt = Field(default=100, ge=0, le=5000)
    rate_limit: StrictFloat | StrictInt = Field(default=50, ge=0, le=10000)


class Domain(Model):
    """A regional custom domain for the API, its certificate and, optionally, its DNS zone."""

    name: Annotated[StrictStr, AfterValidator(_text(DOMAIN, "a lowercase DNS name"))]
    certificate_arn: Annotated[
        StrictStr, AfterValidator(_text(CERTIFICATE_ARN, "an ACM certificate ARN"))
    ]
    hosted_zone_id: (
        Annotated[StrictStr, AfterValidator(_text(HOSTED_ZONE_ID, "a Route 53 hosted zone id"))]
        | None
    ) = None


class ApiSettings(Model):
    """The stack's HTTP API."""

    throttle: Throttle = Field(default_factory=Throttle)
    domain: Domain | None = None
    docs_url: Annotated[
        StrictStr, AfterValidator(_text(re.compile(r"^https://\S+$"), "an https:// URL"))
    ] | None = None  # fmt: skip
    route_quota: StrictInt = Field(default=MAX_ROUTES, ge=1, le=10000)
    """Routes per API (per service's API on the perService layout)."""
    layout: Literal["single", "perService"] = "single"
    """One HTTP API for the stack, or one per service, each mapped on the custom domain by the
    API mapping key `<service>` so public URLs stay `https://<domain>/<service>/v<N>/...`."""

    _name: str = PrivateAttr("")
    _prefix: tuple[str, str] = PrivateAttr(("", ""))

    @property
    def name(self) -> str:
        """The stack's name for its API, `<prefix>mlserve-<environment>` (also its dashboards'
        and its access log's)."""
        return self._name

    @property
    def per_service(self) -> bool:
        """Whether every service has its own HTTP API."""
        return self.layout == PER_SERVICE_LAYOUT

    def api_of(self, service: str) -> str:
        """The name of the HTTP API that serves a service's routes."""
        return api_name(*self._prefix, service if self.per_service else None)

    @property
    def access_log_group(self) -> str:
        """The stage's access-log group, `/aws/apigateway/<api name>`."""
        return f"/aws/apigateway/{self._name}"

    @property
    def domain_name(self) -> str | None:
        """The custom domain, if any."""
        return self.domain.name if self.domain else None

    @property
    def certificate_arn(self) -> str | None:
        """The custom domain's certificate, if any."""
        return self.domain.certificate_arn if self.domain else None

    @property
    def hosted_zone_id(self) -> str | None:
        """The Route 53 zone that gets the domain's alias record, if any."""
        return self.domain.hosted_zone_id if self.domain else None


class Settings(Model):
    """Everything the program needs, validated; downstream code never sees the raw config."""

    environment_key: (
        Annotated[
            StrictStr,
            AfterValidator(
                _text(ENVIRONMENT, "an environment name: 1-32 lowercase letters, digits and '-', "
                      "starting with a letter, e.g. prod")
            ),
        ]
        | None
    ) = Field(default=None, alias="environment")  # fmt: skip
    name_prefix: Annotated[
        StrictStr,
        AfterValidator(
            _text(NAME_PREFIX, f"a name prefix: up to {NAME_PREFIX_LIMIT} lowercase letters, "
                  "digits and '-', e.g. 'dev-'")
        ),
    ] = ""  # fmt: skip
    deprecation_window_days: StrictInt = Field(
        default=DEFAULT_DEPRECATION_WINDOW_DAYS, ge=0, le=3650
    )
    log_retention_days: Annotated[StrictInt, AfterValidator(_retention)] = 30
    promote_from: Annotated[
        StrictStr, AfterValidator(_text(STACK_NAME, "a stack name such as dev"))
    ] | None = None  # fmt: skip
    """The stack whose deployed code this one must match (the pack's promotion policy)."""
    pruning: Pruning | None = None
    """The scheduled pruning of published versions nothing can reach, when set."""
    api: ApiSettings = Field(default_factory=ApiSettings)
    services: dict[ServiceKey, ServiceSettings] = Field(min_length=1)

    _stack: str = PrivateAttr("")
    _project_root: Path = PrivateAttr(Path("."))
    _today: date = PrivateAttr(date(1970, 1, 1))
    _region: str | None = PrivateAttr(None)
    _secret_keys: frozenset[str] = PrivateAttr(frozenset())
    _warnings: tuple[str, ...] = PrivateAttr(())

    @field_validator("services", mode="wrap")
    @classmethod
    def _each_service(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        from components.settings.checks import check_service

        services = _each_entry(value, handler, info, "services", ServiceSettings, check_service)
        return dict(sorted(services.items()))

    def bind(
        self,
        *,
        stack: str,
        project_root: Path,
        today: date,
        region: str | None,
        secret_keys: frozenset[str],
        warnings: tuple[str, ...],
    ) -> None:
        """Attach what the config does not say (the stack, the project, the day, the region,
        which keys are secret) and link every service to its stack."""
        self._stack, self._project_root, self._today = stack, project_root, today
        self._region, self._secret_keys, self._warnings = region, secret_keys, warnings
        self.api._name = api_name(self.name_prefix, self.environment)
        self.api._prefix = (self.name_prefix, self.environment)
        for service in self.services.values():
            service._stack = self

    @property
    def stack(self) -> str:
        """The Pulumi stack name."""
        return self._stack

    @property
    def environment(self) -> str:
        """The environment name aliases carry: `mlserve:environment`, else the stack name."""
        return self.environment_key if self.environment_key is not None else self._stack

    @property
    def project_root(self) -> Path:
        """The project folder, which code paths are relative to."""
        return self._project_root

    @property
    def today(self) -> date:
        """The day the config was judged on (UTC)."""
        return self._today

    @property
    def region(self) -> str | None:
        """The stack's AWS region (`aws:region`), when known."""
        return self._region

    @property
    def secret_keys(self) -> frozenset[str]:
        """The `mlserve:*` keys the stack stores as Pulumi secrets."""
        return self._secret_keys

    @property
    def environment_is_secret(self) -> bool:
        """Whether a key the function environment is built from is a secret, so the environment
        must be registered as a secret output."""
        return bool(self._secret_keys)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Notes about the config that do not stop a deployment (dates that came, runtimes)."""
        return self._warnings

    def versions(self) -> list[VersionSettings]:
        """Every version of every service, retired ones included."""
        return [v for service in self.services.values() for v in service.versions.values()]

    def deployed_versions(self) -> list[VersionSettings]:
        """Every version that has resources."""
        return [v for v in self.versions() if v.deployed]

    @property
    def hook_platform(self) -> tuple[str, str] | None:
        """(runtime, architecture) of the rollout's hook: the first rolled-out zip version's,
        else the default; None without rollouts."""
        rolled = [v for v in self.deployed_versions() if v.rollout is not None]
        if not rolled:
            return None
        zips = [v for v in rolled if v.image is None]
        return (zips[0].runtime, zips[0].architecture) if zips else HOOK_DEFAULT_PLATFORM

    @property
    def layer_platforms(self) -> list[tuple[str, str]]:
        """The (runtime, architecture) of every dependency layer the stack builds: those of its
        zip versions (an image brings its own) and the hook's."""
        platforms = {(v.runtime, v.architecture) for v in self.deployed_versions()
                     if v.image is None}  # fmt: skip
        if self.hook_platform is not None:
            platforms.add(self.hook_platform)
        return sorted(platforms)
