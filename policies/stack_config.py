"""The stack's `mlserve:*` config as the engine hands it to the pack (`PULUMI_CONFIG`), read with
the program's defaults, and the policy that it can be read at all."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from conventions import (
    API_LAYOUTS,
    DEFAULT_DEPRECATION_WINDOW_DAYS,
    ENVIRONMENT,
    LIFECYCLES,
    NAME_PREFIX,
    NAME_PREFIX_LIMIT,
    PER_SERVICE_LAYOUT,
    SERVICE,
    SINGLE_LAYOUT,
    VERSION,
    hook_function_name,
    janitor_function_name,
)
from properties import guarded, whole_number
from resources import STACK

NAMESPACE = "mlserve"


@dataclass(frozen=True)
class VersionEntry:
    """One version of a service as the stack config lists it."""

    service: str
    version: str
    status: str
    deprecated_on: date | None = None
    sunset_on: date | None = None
    successor: str | None = None
    rolls_out: bool = False
    """Whether CodeDeploy moves the version's alias (its `rollout`, or its service's)."""

    @property
    def major(self) -> int:
        """The major number, e.g. 2 for v2."""
        return int(self.version[1:])


@dataclass(frozen=True)
class StackConfig:
    """What the pack needs from the stack config; `problems` lists what could not be read."""

    stack: str | None
    environment: str | None
    name_prefix: str = ""
    deprecation_window_days: int = DEFAULT_DEPRECATION_WINDOW_DAYS
    versions: Mapping[tuple[str, str], VersionEntry] = field(default_factory=dict)
    services_read: bool = False
    problems: tuple[str, ...] = ()
    unreadable: frozenset[str] = frozenset()
    """Services (`churn`) and versions (`churn.v2`) present in the config but not readable."""
    promote_from: str | None = None
    """The stack whose ledger this one's code must match (`mlserve:promoteFrom`)."""
    layout: str = SINGLE_LAYOUT
    """`mlserve:api.layout`: the stack's single HTTP API, or one per service (perService)."""

    @property
    def per_service(self) -> bool:
        """Whether every service has its own HTTP API, mapped on the domain at /<service>."""
        return self.layout == PER_SERVICE_LAYOUT

    def version(self, service: str, version: str) -> VersionEntry | None:
        """The config entry of a service version, if the config has one."""
        return self.versions.get((service, version))

    @property
    def hook_function(self) -> str | None:
        """The rollout's pre-traffic hook function (a platform function, not a version)."""
        if self.environment is None:
            return None
        return hook_function_name(self.name_prefix, self.environment)

    @property
    def platform_functions(self) -> frozenset[str]:
        """The stack's functions that hold no version: the rollout's hook, the pruning janitor."""
        if self.environment is None:
            return frozenset()
        return frozenset({hook_function_name(self.name_prefix, self.environment),
                          janitor_function_name(self.name_prefix, self.environment)})  # fmt: skip

    def readable(self, service: str, version: str) -> bool:
        """False when the config has this version (or its service) but could not read it."""
        return service not in self.unreadable and f"{service}.{version}" not in self.unreadable


def read_stack_config(config: Mapping[str, Any], stack: str | None) -> StackConfig:
    """Read the engine's config mapping (`project:key` -> string, objects JSON-encoded) with the
    program's defaults: environment = stack name, no name prefix, a 180-day window."""
    problems: list[str] = []
    values = _mlserve_values(config)

    environment = values.get("environment", stack)
    if not isinstance(environment, str) or not ENVIRONMENT.fullmatch(environment):
        where = "mlserve:environment" if "environment" in values else "the stack name"
        problems.append(
            f"{where}: {environment!r} is not an environment name (lowercase letters, digits "
            "and '-', starting with a letter); set mlserve:environment"
        )
        environment = None

    name_prefix = values.get("namePrefix", "")
    if not isinstance(name_prefix, str) or not NAME_PREFIX.fullmatch(name_prefix):
        problems.append(
            f"mlserve:namePrefix: {name_prefix!r} is not a name prefix (up to "
            f"{NAME_PREFIX_LIMIT} lowercase letters, digits and '-')"
        )
        name_prefix = ""

    window = _integer(values.get("deprecationWindowDays", DEFAULT_DEPRECATION_WINDOW_DAYS))
    if window is None or window < 0:
        problems.append(
            f"mlserve:deprecationWindowDays: {values.get('deprecationWindowDays')!r} is not a "
            "number of days"
        )
        window = DEFAULT_DEPRECATION_WINDOW_DAYS

    promote_from = values.get("promoteFrom")
    if promote_from is not None and not isinstance(promote_from, str):
        problems.append(f"mlserve:promoteFrom: {promote_from!r} is not a stack name")
        promote_from = str(promote_from)

    api = _decoded(values.get("api", {}))
    layout = api.get("layout", SINGLE_LAYOUT) if isinstance(api, Mapping) else SINGLE_LAYOUT
    if layout not in API_LAYOUTS:
        problems.append(
            f"mlserve:api.layout: {layout!r} is not one of {', '.join(API_LAYOUTS)}; routes are "
            "judged as on the single API"
        )
        layout = SINGLE_LAYOUT

    versions: dict[tuple[str, str], VersionEntry] = {}
    unreadable: set[str] = set()
    services = _decoded(values.get("services"))
    services_read = isinstance(services, Mapping)
    if "services" not in values:
        problems.append("mlserve:services: not set; the pack checks versions against it")
    elif not isinstance(services, Mapping):
        problems.append("mlserve:services: not a mapping of services (is the JSON valid?)")
    else:
        for service_key, service in services.items():
            _read_service(str(service_key), service, versions, unreadable, problems)

    return StackConfig(
        stack=stack,
        environment=environment,
        name_prefix=name_prefix,
        deprecation_window_days=window,
        versions=versions,
        services_read=services_read,
        problems=tuple(problems),
        unreadable=frozenset(unreadable),
        promote_from=promote_from,
        layout=layout,
    )


def _mlserve_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `mlserve:` keys without their namespace; the older `mlserve:config:key` form too."""
    values: dict[str, Any] = {}
    for full_key, value in config.items():
        namespace, _, key = str(full_key).partition(":")
        if namespace == NAMESPACE and key:
            values[key.removeprefix("config:")] = value
    return values


def _decoded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def _integer(value: Any) -> int | None:
    return whole_number(_decoded(value))


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _read_service(
    service_key: str,
    service: Any,
    versions: dict[tuple[str, str], VersionEntry],
    unreadable: set[str],
    problems: list[str],
) -> None:
    where = f"mlserve:services.{service_key}"
    if not SERVICE.fullmatch(service_key):
        problems.append(f"{where}: {service_key!r} is not a service key")
        unreadable.add(service_key)
        return
    raw_versions = service.get("versions") if isinstance(service, Mapping) else None
    if not isinstance(raw_versions, Mapping):
        problems.append(f"{where}.versions: not a mapping of versions")
        unreadable.add(service_key)
        return
    for version_key, raw in raw_versions.items():
        at = f"{where}.versions.{version_key}"
        if not VERSION.fullmatch(str(version_key)) or not isinstance(raw, Mapping):
            problems.append(f"{at}: not a version entry (keys are v1, v2, ...)")
            unreadable.add(f"{service_key}.{version_key}")
            continue
        status = raw.get("status")
        if status not in LIFECYCLES:
            problems.append(f"{at}.status: {status!r} is not one of {', '.join(LIFECYCLES)}")
            unreadable.add(f"{service_key}.{version_key}")
            continue
        dates = {key: _date(raw.get(key)) for key in ("deprecatedOn", "sunsetOn")}
        for key, parsed in dates.items():
            if raw.get(key) is not None and parsed is None:
                problems.append(f"{at}.{key}: {raw.get(key)!r} is not a YYYY-MM-DD date")
        successor = raw.get("successor")
        if successor is not None and not (
            isinstance(successor, str) and VERSION.fullmatch(successor)
        ):
            problems.append(f"{at}.successor: {successor!r} is not a version key")
            successor = None
        rollout = raw.get("rollout", service.get("rollout") if status == "active" else None)
        versions[(service_key, str(version_key))] = VersionEntry(
            service=service_key,
            version=str(version_key),
            status=status,
            deprecated_on=dates["deprecatedOn"],
            sunset_on=dates["sunsetOn"],
            successor=successor,
            rolls_out=isinstance(rollout, Mapping) and status != "retired",
        )


@lru_cache(maxsize=4)
def _parse_environment(raw_config: str | None, stack: str | None) -> StackConfig:
    if raw_config is None:
        return read_stack_config({}, stack)
    try:
        config = json.loads(raw_config)
    except json.JSONDecodeError:
        config = None
    if not isinstance(config, Mapping):
        unreadable = read_stack_config({}, stack)
        return replace(unreadable, problems=("PULUMI_CONFIG is not a JSON object",))
    return read_stack_config(config, stack)


def stack_config() -> StackConfig:
    """The running stack's config, from the environment the engine started the pack with; parsed
    once per distinct environment, so validators may call it per resource."""
    return _parse_environment(os.environ.get("PULUMI_CONFIG"), os.environ.get("PULUMI_STACK"))


def mlserve_config_readable_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Report every part of the `mlserve:*` config the pack could not read (once, on the stack)."""
    if args.resource_type != STACK:
        return
    for problem in stack_config().problems:
        report_violation(problem, None)


mlserve_config_readable = ResourceValidationPolicy(
    name="mlserve-config-readable",
    description=(
        "Requires the stack's mlserve:* config (environment, namePrefix, deprecationWindowDays, "
        "services) to be readable, so every other rule is checked against the real settings."
    ),
    validate=guarded(mlserve_config_readable_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Fix the config key named in the message in Pulumi.<stack>.yaml (the program rejects the "
        "same mistakes); run the pack through the Pulumi CLI, which passes the stack config in "
        "PULUMI_CONFIG."
    ),
)
