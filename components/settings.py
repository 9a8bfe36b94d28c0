"""The stack config, parsed once: raw `mlserve:*` mapping -> frozen, validated settings."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

SERVICE_KEY = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
VERSION_KEY = re.compile(r"^v[1-9][0-9]*$")
ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
NAME_PREFIX = re.compile(r"^[a-z0-9-]{0,32}$")
ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (/[A-Za-z0-9._~-]+)+$")
ROUTE_PATH_LIMIT = 128  # characters of a route's path below /<service>/v<N>
HOSTED_ZONE_ID = r"^Z[0-9A-Z]{1,31}$"
CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]+$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,64}$")
PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
ENV_VAR_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]+$")  # Lambda's pattern: 2 characters or more
ENVIRONMENT_LIMIT = 4096  # bytes of all of a function's variable names and values (Lambda quota)
RESERVED_ROUTES = ("GET /health", "GET /metadata")
RESERVED_ENV_PREFIXES = ("MLSERVE_", "AWS_", "POWERTOOLS_")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)  # fmt: skip
Runtime = Literal["python3.10", "python3.11", "python3.12", "python3.13"]
RUNTIMES = get_args(Runtime)
FUNCTION_NAME_LIMIT = 64  # Lambda function names
ROLE_NAME_LIMIT = 64  # IAM role names, Pulumi's 8-character random suffix included
AUTONAME_SUFFIX = 8  # "-" plus 7 random characters
DESCRIPTION_LIMIT = 256  # Lambda function descriptions
MAX_ROUTES = 300  # HTTP API quota: routes per API (AWS can raise it for one API on request)
MAX_INTEGRATIONS = 300  # HTTP API quota: integrations per API (fixed)
INTEGRATION_TIMEOUT_SECONDS = 30  # HTTP API's maximum integration timeout


class ConfigError(Exception):
    """A stack config that cannot be deployed; the message lists every problem with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid stack config ({len(problems)} problem(s)):\n{lines}")


class _Raw(BaseModel):
    """The shape of the config as users write it: camelCase keys, nothing unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RawCanary(_Raw):
    weight: StrictFloat | StrictInt


class RawVersion(_Raw):
    code: StrictStr | None = None
    status: Literal["active", "deprecated", "retired"]
    deprecatedOn: date | None = None
    sunsetOn: date | None = None
    successor: StrictStr | None = None
    changelog: StrictStr = ""
    pin: StrictInt | None = None
    canary: RawCanary | None = None
    provisionedConcurrency: StrictInt | None = None
    environment: dict[str, StrictStr] = Field(default_factory=dict)
    runtime: Runtime | None = None
    architecture: Literal["arm64", "x86_64"] | None = None
    handler: StrictStr | None = None
    memoryMb: StrictInt | None = Field(default=None, ge=128, le=10240)
    timeoutSeconds: StrictInt | None = Field(default=None, ge=1, le=900)


class RawConsumer(_Raw):
    role: StrictStr
    versions: list[StrictStr] = Field(min_length=1)


class RawService(_Raw):
    description: StrictStr = ""
    runtime: Runtime = "python3.12"
    architecture: Literal["arm64", "x86_64"] = "arm64"
    handler: StrictStr = "app.handler"
    memoryMb: StrictInt = Field(default=512, ge=128, le=10240)
    timeoutSeconds: StrictInt = Field(default=10, ge=1, le=900)
    routes: list[StrictStr] = Field(default_factory=lambda: ["POST /predict"], min_length=1)
    auth: Literal["none", "iam"] = "none"
    consumers: list[RawConsumer] = Field(default_factory=list)
    versions: dict[str, RawVersion] = Field(min_length=1)


class RawThrottle(_Raw):
    burstLimit: StrictInt = Field(default=100, ge=0, le=5000)
    rateLimit: StrictFloat | StrictInt = Field(default=50, ge=0, le=10000)


class RawDomain(_Raw):
    name: StrictStr = Field(pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
    certificateArn: StrictStr = Field(pattern=CERTIFICATE_ARN.pattern)
    hostedZoneId: StrictStr | None = Field(default=None, pattern=HOSTED_ZONE_ID)


class RawApi(_Raw):
    throttle: RawThrottle = Field(default_factory=RawThrottle)
    domain: RawDomain | None = None
    docsUrl: StrictStr | None = Field(default=None, pattern=r"^https://")
    routeQuota: StrictInt = Field(default=MAX_ROUTES, ge=1, le=10000)


class RawStack(_Raw):
    environment: StrictStr | None = None
    namePrefix: StrictStr = ""
    deprecationWindowDays: StrictInt = Field(default=180, ge=0, le=3650)
    logRetentionDays: StrictInt = 30
    api: RawApi = Field(default_factory=RawApi)
    services: dict[str, RawService] = Field(min_length=1)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Route(_Frozen):
    """One route of a version, relative to the version's base path `/<service>/v<N>`."""

    method: str
    path: str

    @property
    def key(self) -> str:
        """The route as configured, e.g. `POST /predict`."""
        return f"{self.method} {self.path}"

    @property
    def slug(self) -> str:
        """A kebab-case form for logical names, e.g. `post-predict`."""
        return re.sub(r"[^a-z0-9]+", "-", self.key.lower()).strip("-")


class Consumer(_Frozen):
    """An IAM role allowed to call some versions of a service."""

    role_arn: str
    account_id: str
    versions: tuple[str, ...]


class VersionSettings(_Frozen):
    """One major version of a service, with the service defaults already applied."""

    service: str
    key: str
    major: int
    status: Literal["active", "deprecated", "retired"]
    code: Path | None
    deprecated_on: date | None
    sunset_on: date | None
    successor: str | None
    changelog: str
    pin: int | None
    canary_weight: float | None
    provisioned_concurrency: int | None
    environment: dict[str, str]
    runtime: str
    architecture: str
    handler: str
    memory_mb: int
    timeout_seconds: int
    function_name: str
    alias_name: str
    variables: dict[str, str]
    """The function's whole environment: the version's own variables plus the MLSERVE_* facts
    the runtime reads (the local API sets exactly these too)."""

    @property
    def deployed(self) -> bool:
        """Whether the version has resources: everything but a retired tombstone."""
        return self.status != "retired"

    @property
    def base_path(self) -> str:
        """The version's HTTP base path, e.g. `/churn/v2`."""
        return f"/{self.service}/{self.key}"

    @property
    def logical_name(self) -> str:
        """The stable Pulumi logical name, e.g. `churn-v2`."""
        return f"{self.service}-{self.key}"


class ServiceSettings(_Frozen):
    """One model service and its major versions, ordered by major."""

    key: str
    description: str
    routes: tuple[Route, ...]
    auth: Literal["none", "iam"]
    consumers: tuple[Consumer, ...]
    versions: dict[str, VersionSettings]

    @property
    def deployed_versions(self) -> list[VersionSettings]:
        """Versions that have resources (not retired)."""
        return [version for version in self.versions.values() if version.deployed]

    @property
    def all_routes(self) -> tuple[Route, ...]:
        """Configured routes plus the reserved ones every version answers."""
        reserved = tuple(Route(method=k.split()[0], path=k.split()[1]) for k in RESERVED_ROUTES)
        return self.routes + reserved


class ApiSettings(_Frozen):
    """The stack's HTTP API."""

    name: str
    throttle_burst_limit: int
    throttle_rate_limit: float
    domain_name: str | None
    certificate_arn: str | None
    hosted_zone_id: str | None
    docs_url: str | None


class Settings(_Frozen):
    """Everything the program needs, validated; downstream code never sees the raw config."""

    project_root: Path
    stack: str
    region: str | None
    environment: str
    name_prefix: str
    deprecation_window_days: int
    log_retention_days: int
    today: date
    api: ApiSettings
    services: dict[str, ServiceSettings]
    warnings: tuple[str, ...]
    secret_keys: frozenset[str] = frozenset()
    """The `mlserve:*` keys the stack stores as Pulumi secrets."""

    @property
    def environment_is_secret(self) -> bool:
        """Whether a key the function environment is built from is a secret, so the environment
        must be registered as a secret output."""
        return bool(self.secret_keys)

    def versions(self) -> list[VersionSettings]:
        """Every version of every service, retired ones included."""
        return [v for service in self.services.values() for v in service.versions.values()]

    def deployed_versions(self) -> list[VersionSettings]:
        """Every version that has resources."""
        return [v for v in self.versions() if v.deployed]


def function_name(name_prefix: str, service: str, version: str) -> str:
    """The Lambda function name of a service version, e.g. `dev-churn_v2`."""
    return f"{name_prefix}{service}_{version}"


def alias_name(environment: str, version: str) -> str:
    """The alias name of a version in an environment, e.g. `prod_v2`."""
    return f"{environment}_{version}"


def key_path(*parts: object) -> str:
    """The key path as users see it in the stack file: `mlserve:services.churn.versions.v2`;
    a key that is not a plain word is quoted, e.g. `mlserve:services["my model"]`."""
    path = "mlserve:"
    for index, part in enumerate(str(part) for part in parts):
        if not PLAIN_KEY.fullmatch(part):
            path += f"[{json.dumps(part)}]"
        else:
            path += part if index == 0 else f".{part}"
    return path


def _describe(error: Any) -> str:
    """One pydantic error as `key path: problem (allowed)`."""
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    # pydantic adds the union member name (`float`, `int`) to the location of union errors
    loc = [part for part in loc if part not in {"float", "int", "str"}]
    where = key_path(*loc) if loc else "mlserve"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key; remove it or check its spelling against the README"
    if kind == "missing":
        return f"{where}: required key is missing"
    return f"{where}: {error['msg']} (got {shown(error.get('input'), *loc[:1])})"


_SECRET_KEYS: ContextVar[frozenset[str]] = ContextVar("secret_keys", default=frozenset())


def shown(value: Any, key: str) -> str:
    """A config value as an error message may echo it: never the value of a secret key."""
    return "[secret]" if f"mlserve:{key}" in _SECRET_KEYS.get() else repr(value)


@contextmanager
def _secrets(keys: frozenset[str]) -> Iterator[None]:
    token = _SECRET_KEYS.set(keys)
    try:
        yield
    finally:
        _SECRET_KEYS.reset(token)


def _parse_raw(raw: Mapping[str, Any]) -> RawStack:
    try:
        return RawStack.model_validate(dict(raw))
    except ValidationError as exc:
        seen: list[str] = []
        for error in exc.errors():
            message = _describe(error)
            if message not in seen:
                seen.append(message)
        raise ConfigError(seen) from None


def parse_settings(
    raw: Mapping[str, Any],
    *,
    stack: str,
    project_root: Path,
    today: date,
    region: str | None = None,
    secret_keys: frozenset[str] = frozenset(),
) -> Settings:
    """Turn the raw `mlserve:*` config (keys without the `mlserve:` prefix) into settings.

    Pure: the stack name, project root, today's date, the stack's AWS region and which keys are
    secrets (`mlserve:services`) are arguments, so tests pin them all. Raises ConfigError listing
    every problem found; a problem never echoes the value of a secret key.
    """
    with _secrets(frozenset(secret_keys)):
        return _parse_settings(raw, stack, project_root, today, region, frozenset(secret_keys))


def _parse_settings(
    raw: Mapping[str, Any],
    stack: str,
    project_root: Path,
    today: date,
    region: str | None,
    secret_keys: frozenset[str],
) -> Settings:
    stack_raw = _parse_raw(raw)
    problems: list[str] = []
    warnings: list[str] = []

    environment = stack_raw.environment if stack_raw.environment is not None else stack
    if not ENVIRONMENT.fullmatch(environment):
        where = "mlserve:environment" if stack_raw.environment is not None else "stack name"
        problems.append(
            f"{where}: {shown(environment, 'environment')} cannot name aliases; use lowercase "
            "letters, digits and "
            f"'-' (1-32 characters, starting with a letter), e.g. set mlserve:environment: prod"
        )
    if not NAME_PREFIX.fullmatch(stack_raw.namePrefix):
        problems.append(
            f"mlserve:namePrefix: {shown(stack_raw.namePrefix, 'namePrefix')} is not allowed; "
            "use up to 32 "
            "lowercase letters, digits and '-', e.g. 'dev-'"
        )
    if stack_raw.logRetentionDays not in LOG_RETENTION_DAYS:
        problems.append(
            f"mlserve:logRetentionDays: {stack_raw.logRetentionDays} is not a CloudWatch "
            f"retention; allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}"
        )

    services: dict[str, ServiceSettings] = {}
    for service_key, service_raw in stack_raw.services.items():
        service = _service(
            service_key, service_raw, stack_raw, environment, project_root, today, problems,
            warnings,
        )  # fmt: skip
        if service is not None:
            services[service_key] = service

    _check_quotas(services, stack_raw.api.routeQuota, problems)
    domain = stack_raw.api.domain
    if domain is not None:
        _check_certificate_region(domain, region, problems)
    if problems:
        raise ConfigError(problems)

    return Settings(
        project_root=project_root,
        stack=stack,
        region=region,
        environment=environment,
        name_prefix=stack_raw.namePrefix,
        deprecation_window_days=stack_raw.deprecationWindowDays,
        log_retention_days=stack_raw.logRetentionDays,
        today=today,
        api=ApiSettings(
            name=f"{stack_raw.namePrefix}mlserve-{environment}",
            throttle_burst_limit=stack_raw.api.throttle.burstLimit,
            throttle_rate_limit=float(stack_raw.api.throttle.rateLimit),
            domain_name=domain.name if domain else None,
            certificate_arn=domain.certificateArn if domain else None,
            hosted_zone_id=domain.hostedZoneId if domain else None,
            docs_url=stack_raw.api.docsUrl,
        ),
        services=dict(sorted(services.items())),
        warnings=tuple(warnings),
        secret_keys=secret_keys,
    )


def _check_certificate_region(domain: RawDomain, region: str | None, problems: list[str]) -> None:
    """A regional custom domain needs its ACM certificate in the API's own region."""
    match = CERTIFICATE_ARN.fullmatch(domain.certificateArn)
    if match is None or region is None or match.group(1) == region:
        return
    problems.append(
        f"mlserve:api.domain.certificateArn: the certificate is in {match.group(1)}, but the "
        f"stack deploys to {region} (aws:region); a regional custom domain needs a certificate "
        f"issued or imported in ACM in {region}"
    )


def _service(
    key: str,
    raw: RawService,
    stack_raw: RawStack,
    environment: str,
    project_root: Path,
    today: date,
    problems: list[str],
    warnings: list[str],
) -> ServiceSettings | None:
    if not SERVICE_KEY.fullmatch(key):
        problems.append(
            f"{key_path('services', key)}: service key {key!r} is not allowed; use 1-40 lowercase "
            "letters, digits and '-', starting with a letter (e.g. churn, fraud-score)"
        )
        return None
    routes = _routes(key, raw.routes, problems)
    versions: dict[str, VersionSettings] = {}
    for version_key, version_raw in raw.versions.items():
        if not VERSION_KEY.fullmatch(version_key):
            problems.append(
                f"{key_path('services', key, 'versions', version_key)}: version key "
                f"{version_key!r} is not allowed; use v1, v2, ... (^v[1-9][0-9]*$)"
            )
            continue
        versions[version_key] = _version(
            key, version_key, version_raw, raw, stack_raw, environment, project_root
        )
    versions = dict(sorted(versions.items(), key=lambda item: item[1].major))
    for version in versions.values():
        _check_version(version, versions, stack_raw, project_root, today, problems, warnings)
    consumers = _consumers(key, raw, versions, problems)
    return ServiceSettings(
        key=key,
        description=raw.description,
        routes=routes,
        auth=raw.auth,
        consumers=consumers,
        versions=versions,
    )


def _routes(service: str, raw_routes: list[str], problems: list[str]) -> tuple[Route, ...]:
    routes: list[Route] = []
    for index, text in enumerate(raw_routes):
        where = key_path("services", service, "routes", index)
        if not ROUTE.fullmatch(text):
            problems.append(
                f"{where}: {shown(text, 'services')} is not 'METHOD /path'; use an HTTP method "
                "in capitals, one "
                "space, and a path of letters, digits, '.', '_', '~', '-' (e.g. 'POST /predict')"
            )
        elif text in RESERVED_ROUTES:
            problems.append(
                f"{where}: {shown(text, 'services')} is reserved; every version answers it already"
            )
        elif any(route.key == text for route in routes):
            problems.append(
                f"{where}: duplicate route {shown(text, 'services')}; list each route once"
            )
        elif len(text.split(" ", 1)[1]) > ROUTE_PATH_LIMIT:
            problems.append(
                f"{where}: the path has {len(text.split(' ', 1)[1])} characters; keep a route's "
                f"path within {ROUTE_PATH_LIMIT}"
            )
        else:
            method, path = text.split(" ", 1)
            route = Route(method=method, path=path)
            if any(other.slug == route.slug for other in routes):
                problems.append(
                    f"{where}: {shown(text, 'services')} differs from another route only in "
                    "punctuation; "
                    "resource names would collide, rename one of them"
                )
            routes.append(route)
    return tuple(routes)


def _version(
    service: str,
    key: str,
    raw: RawVersion,
    service_raw: RawService,
    stack_raw: RawStack,
    environment: str,
    project_root: Path,
) -> VersionSettings:
    return VersionSettings(
        service=service,
        key=key,
        major=int(key[1:]),
        status=raw.status,
        code=(project_root / raw.code) if raw.code is not None else None,
        deprecated_on=raw.deprecatedOn,
        sunset_on=raw.sunsetOn,
        successor=raw.successor,
        changelog=raw.changelog,
        pin=raw.pin,
        canary_weight=float(raw.canary.weight) if raw.canary else None,
        provisioned_concurrency=raw.provisionedConcurrency,
        environment=dict(raw.environment),
        runtime=raw.runtime or service_raw.runtime,
        architecture=raw.architecture or service_raw.architecture,
        handler=raw.handler or service_raw.handler,
        memory_mb=raw.memoryMb or service_raw.memoryMb,
        timeout_seconds=raw.timeoutSeconds or service_raw.timeoutSeconds,
        function_name=function_name(stack_raw.namePrefix, service, key),
        alias_name=alias_name(environment, key),
        variables=_function_variables(service, key, raw, environment, stack_raw.api.docsUrl),
    )


def _function_variables(
    service: str, key: str, raw: RawVersion, environment: str, docs_url: str | None
) -> dict[str, str]:
    variables = {
        **raw.environment,
        "MLSERVE_SERVICE": service,
        "MLSERVE_VERSION": key,
        "MLSERVE_ENVIRONMENT": environment,
        "MLSERVE_LIFECYCLE": raw.status,
        "POWERTOOLS_SERVICE_NAME": service,
    }
    if raw.deprecatedOn is not None:
        variables["MLSERVE_DEPRECATED_ON"] = raw.deprecatedOn.isoformat()
    if raw.sunsetOn is not None:
        variables["MLSERVE_SUNSET_ON"] = raw.sunsetOn.isoformat()
    if raw.successor is not None:
        variables["MLSERVE_SUCCESSOR_PATH"] = f"/{service}/{raw.successor}"
    if docs_url is not None:
        variables["MLSERVE_DOCS_URL"] = f"{docs_url.rstrip('/')}/{service}/{key}"
    return variables


def _check_version(
    version: VersionSettings,
    versions: dict[str, VersionSettings],
    stack_raw: RawStack,
    project_root: Path,
    today: date,
    problems: list[str],
    warnings: list[str],
) -> None:
    def at(*keys: str) -> str:
        return key_path("services", version.service, "versions", version.key, *keys)

    if len(version.function_name) > FUNCTION_NAME_LIMIT:
        problems.append(
            f"{at()}: function name {version.function_name!r} has {len(version.function_name)} "
            f"characters, Lambda allows {FUNCTION_NAME_LIMIT}; shorten mlserve:namePrefix or "
            "the service key"
        )
    role_name_length = len(f"{version.logical_name}-role") + AUTONAME_SUFFIX
    if role_name_length > ROLE_NAME_LIMIT:
        problems.append(
            f"{at()}: the execution role name would have {role_name_length} characters, IAM "
            f"allows {ROLE_NAME_LIMIT}; shorten the service key"
        )
    if len(version.changelog) > DESCRIPTION_LIMIT:
        problems.append(
            f"{at('changelog')}: {len(version.changelog)} characters; Lambda descriptions allow "
            f"{DESCRIPTION_LIMIT}, keep the line short and link to longer notes"
        )
    if version.pin is not None and version.pin < 1:
        problems.append(
            f"{at('pin')}: {version.pin} is not a published Lambda version; use a positive "
            "integer such as 3"
        )
    if version.provisioned_concurrency is not None and version.provisioned_concurrency < 1:
        problems.append(f"{at('provisionedConcurrency')}: must be a positive integer")
    for name in version.environment:
        if not ENV_VAR_NAME.fullmatch(name) or name.startswith(RESERVED_ENV_PREFIXES):
            problems.append(
                f"{at('environment', name)}: {name!r} is not allowed; use a letter, then letters, "
                f"digits and '_' (2 characters or more) and none of the reserved prefixes "
                f"{', '.join(RESERVED_ENV_PREFIXES)}"
            )
    size = sum(
        len(name.encode()) + len(value.encode()) for name, value in version.variables.items()
    )
    if version.deployed and size > ENVIRONMENT_LIMIT:
        problems.append(
            f"{at('environment')}: the function's variables (with the MLSERVE_* ones the program "
            f"adds) take {size} bytes; Lambda allows {ENVIRONMENT_LIMIT} in all. Move large "
            "values into the code folder or a parameter store"
        )
    if version.deployed:
        _check_code(version, project_root, at, problems)
    _check_successor(version, versions, at, problems)
    _check_lifecycle(version, stack_raw.deprecationWindowDays, today, at, problems, warnings)
    _check_rollout(version, at, problems)
    if version.deployed and version.timeout_seconds > INTEGRATION_TIMEOUT_SECONDS:
        warnings.append(
            f"{at('timeoutSeconds')}: {version.timeout_seconds}s exceeds the HTTP API's "
            f"{INTEGRATION_TIMEOUT_SECONDS}s integration limit; API callers get 503 after "
            f"{INTEGRATION_TIMEOUT_SECONDS}s while the function keeps running"
        )


def _check_code(version: VersionSettings, project_root: Path, at: Any, problems: list[str]) -> None:
    if version.code is None:
        problems.append(f"{at('code')}: required for a {version.status} version; give the folder")
        return
    folder = version.code.resolve()
    if not folder.is_relative_to(project_root.resolve()):
        problems.append(
            f"{at('code')}: {version.code} is outside the project; give a relative path"
        )
        return
    relative = folder.relative_to(project_root.resolve())
    if not folder.is_dir():
        problems.append(
            f"{at('code')}: folder {relative} does not exist; give the version's handler folder "
            "relative to the project root"
        )
        return
    module, _, function = version.handler.rpartition(".")
    module_file = folder / (module.replace(".", "/") + ".py")
    if not module or not function or not module_file.is_file():
        problems.append(
            f"{at('handler')}: {shown(version.handler, 'services')} does not name a function "
            "in a module of "
            f"{relative}; use 'module.function', e.g. app.handler"
        )


def _check_successor(
    version: VersionSettings, versions: dict[str, VersionSettings], at: Any, problems: list[str]
) -> None:
    if version.successor is None:
        return
    successor = versions.get(version.successor)
    if successor is None:
        problems.append(
            f"{at('successor')}: {shown(version.successor, 'services')} is not a version of "
            f"{version.service}; use one of {', '.join(versions)}"
        )
    elif successor.major <= version.major:
        problems.append(
            f"{at('successor')}: {shown(version.successor, 'services')} is not a higher major than "
            f"{version.key}; a successor must be newer"
        )
    elif version.status == "deprecated" and not successor.deployed:
        problems.append(
            f"{at('successor')}: {shown(version.successor, 'services')} is retired; callers "
            "must be sent to a "
            "version that answers"
        )


def _check_lifecycle(
    version: VersionSettings,
    window_days: int,
    today: date,
    at: Any,
    problems: list[str],
    warnings: list[str],
) -> None:
    if version.status in ("deprecated", "retired"):
        for key, value in (
            ("deprecatedOn", version.deprecated_on),
            ("sunsetOn", version.sunset_on),
            ("successor", version.successor),
        ):
            if value is None:
                problems.append(f"{at(key)}: required for a {version.status} version")
    deprecated_on, sunset_on = version.deprecated_on, version.sunset_on
    if sunset_on is not None and deprecated_on is None:
        problems.append(f"{at('deprecatedOn')}: required when sunsetOn is set")
    if deprecated_on is not None and sunset_on is not None:
        earliest = deprecated_on + timedelta(days=window_days)
        if sunset_on < earliest:
            problems.append(
                f"{at('sunsetOn')}: {sunset_on} is less than mlserve:deprecationWindowDays "
                f"({window_days}) after deprecatedOn {deprecated_on}; the earliest allowed "
                f"sunset is {earliest}"
            )
    if version.status == "active" and deprecated_on is not None and deprecated_on <= today:
        warnings.append(
            f"{at('status')}: deprecatedOn {deprecated_on} has come; mark {version.service} "
            f"{version.key} deprecated so callers get Deprecation and Sunset headers"
        )
    if version.status == "deprecated" and sunset_on is not None and sunset_on < today:
        warnings.append(
            f"{at('status')}: sunset {sunset_on} has passed and the version answers 410 Gone; "
            "mark it retired to remove its resources"
        )
    if version.status == "retired" and sunset_on is not None and sunset_on >= today:
        problems.append(
            f"{at('status')}: a version may be retired only after its sunset day "
            f"({sunset_on}); keep it deprecated until {sunset_on + timedelta(days=1)}"
        )


def _check_rollout(version: VersionSettings, at: Any, problems: list[str]) -> None:
    if version.status == "deprecated":
        for key, value in (("pin", version.pin), ("canary", version.canary_weight)):
            if value is not None:
                problems.append(
                    f"{at(key)}: not allowed on a deprecated version; its alias must serve the "
                    "newest published version, the only one whose environment carries the "
                    "deprecation (published versions are immutable)"
                )
    if version.canary_weight is None:
        return
    if version.pin is None:
        problems.append(
            f"{at('canary')}: requires pin; the alias keeps the pinned version and sends the "
            "canary share to the newest published version"
        )
    if not 0 < version.canary_weight < 1:
        problems.append(
            f"{at('canary', 'weight')}: {version.canary_weight} must be between 0 and 1 "
            "(exclusive), e.g. 0.1 for 10% of traffic"
        )
    if version.provisioned_concurrency is not None:
        problems.append(
            f"{at('provisionedConcurrency')}: cannot be combined with canary; AWS does not "
            "allow provisioned concurrency on an alias with a weighted routing config"
        )


def _consumers(
    service: str,
    raw: RawService,
    versions: dict[str, VersionSettings],
    problems: list[str],
) -> tuple[Consumer, ...]:
    consumers: list[Consumer] = []
    for index, consumer in enumerate(raw.consumers):
        where = key_path("services", service, "consumers", index)
        match = ROLE_ARN.fullmatch(consumer.role)
        if not match:
            problems.append(
                f"{where}.role: {shown(consumer.role, 'services')} is not an IAM role ARN "
                "(arn:aws:iam::<12-digit account>:role/<name>)"
            )
            continue
        for version_key in consumer.versions:
            version = versions.get(version_key)
            if version is None:
                problems.append(
                    f"{where}.versions: {shown(version_key, 'services')} is not a version of "
                    f"{service}; use one "
                    f"of {', '.join(versions)}"
                )
            elif not version.deployed:
                problems.append(
                    f"{where}.versions: {shown(version_key, 'services')} is retired and has no "
                    "routes; remove it"
                )
        consumers.append(
            Consumer(
                role_arn=consumer.role,
                account_id=match.group(1),
                versions=tuple(consumer.versions),
            )
        )
    if consumers and raw.auth != "iam":
        problems.append(
            f"{key_path('services', service, 'consumers')}: consumers need auth: iam; without it "
            "every route is public and a consumer grant means nothing"
        )
    return tuple(consumers)


def _check_quotas(
    services: dict[str, ServiceSettings], route_quota: int, problems: list[str]
) -> None:
    deployed = [v for s in services.values() for v in s.versions.values() if v.deployed]
    routes = sum(len(services[v.service].all_routes) for v in deployed)
    integrations = len(deployed)
    if routes > route_quota or integrations > MAX_INTEGRATIONS:
        problems.append(
            f"mlserve:services: the HTTP API would have {routes} routes and {integrations} "
            f"integrations; the quotas are {route_quota} routes (mlserve:api.routeQuota, raise "
            f"it only after AWS raised it for this API) and {MAX_INTEGRATIONS} integrations "
            "(fixed). Retire old versions or split services across stacks"
        )


STRING_KEYS = ("environment", "namePrefix")  # kept as written; every other value is JSON


def decode_engine_config(config: Mapping[str, str]) -> dict[str, Any]:
    """The `mlserve:*` entries of engine config (string values, objects JSON-encoded), decoded."""
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != "mlserve":
            continue
        if key in STRING_KEYS or not isinstance(value, str):
            raw[key] = value
            continue
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            problems.append(f"{full_key}: not a valid value (JSON expected); check the YAML")
    if problems:
        raise ConfigError(problems)
    return raw


def today_utc() -> date:
    """Today's UTC date, or MLSERVE_TODAY (YYYY-MM-DD) when a preview or test pins the clock."""
    pinned = os.environ.get("MLSERVE_TODAY")
    if not pinned:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(pinned)
    except ValueError:
        raise ConfigError([f"MLSERVE_TODAY: {pinned!r} is not a date; use YYYY-MM-DD"]) from None


def settings_from_engine_config(
    config: Mapping[str, Any],
    *,
    stack: str,
    project_root: Path,
    today: date,
    secret_keys: frozenset[str] = frozenset(),
) -> Settings:
    """Settings from config as the engine hands it over (`project:key` -> string, objects
    JSON-encoded), with the stack's AWS region from `aws:region` (else AWS_REGION)."""
    region = config.get("aws:region") or os.environ.get("AWS_REGION")
    return parse_settings(
        decode_engine_config(config),
        stack=stack,
        project_root=project_root,
        today=today,
        region=region if isinstance(region, str) else None,
        secret_keys=frozenset(key for key in secret_keys if key.startswith("mlserve:")),
    )


def load_settings() -> Settings:
    """The running stack's settings; a bad config stops the program with the problem list, before
    any resource is registered, and time-dependent lifecycle notes become warnings."""
    import pulumi
    from pulumi.runtime.config import (
        CONFIG,
        get_config_env,
        get_config_secret_keys_env,
        is_config_secret,
    )

    config = {**get_config_env(), **CONFIG.get()}
    secret_keys = frozenset(
        key for key in config if is_config_secret(key) or key in get_config_secret_keys_env()
    )
    try:
        settings = settings_from_engine_config(
            config,
            stack=pulumi.get_stack(),
            project_root=Path(__file__).resolve().parent.parent,
            today=today_utc(),
            secret_keys=secret_keys,
        )
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    return settings
