"""The rules that span fields, entries or levels of the stack config. Version and service rules
run from the model's validators as each entry validates (with `today`, `project_root` and the
problems sink in the validation context); stack rules run once the whole model is bound."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo

from components.settings.errors import Path as KeyPath
from components.settings.errors import Problems
from components.settings.model import (
    CERTIFICATE_ARN,
    Route,
    ServiceSettings,
    Settings,
    VersionSettings,
)
from mlserve_runtime.conventions import (
    FUNCTION_NAME_LIMIT,
    MAX_TRAFFIC_SHIFT_MINUTES,
    QUEUE_NAME_LIMIT,
    QUEUE_SUFFIXES,
    SURFACE_MODULE,
    declared_surface,
    hook_function_name,
    image_repository,
    janitor_function_name,
)

EntryCheck = Callable[[Any, KeyPath, ValidationInfo], None]
ROLE_NAME_LIMIT = 64  # IAM role names, Pulumi's random suffix included
AUTONAME_SUFFIX = 8  # pulumi-aws auto-names a role `<logical name>-<7 random characters>`
MAX_INTEGRATIONS = 300  # HTTP API quota: integrations per API (fixed)
# Each deprecated version has a metric filter on the stage's access log (100 per log group,
# fixed) and a Contributor Insights rule (100 per account and region, raisable).
MAX_DEPRECATED_VERSIONS = 100
INTEGRATION_TIMEOUT_SECONDS = 30  # HTTP API's maximum integration timeout
MIN_RECEIVES = 5  # AWS's advice for the maxReceiveCount of a queue Lambda consumes
ENVIRONMENT_LIMIT = 4096  # bytes of all of a function's variable names and values (Lambda)
RUNTIME_NOTICE_DAYS = 180
# Lambda's Python runtimes (docs.aws.amazon.com/lambda/latest/dg/lambda-python.html, read
# 2026-12-01): deprecation, then no new functions, then no updates.
RUNTIME_END = {
    "python3.10": (date(2026, 10, 31), date(2026, 11, 30), date(2027, 1, 15)),
    "python3.11": (date(2027, 6, 30), date(2027, 7, 31), date(2027, 8, 31)),
    "python3.12": (date(2028, 10, 31), date(2028, 11, 30), date(2029, 1, 10)),
    "python3.13": (date(2029, 6, 30), date(2029, 7, 31), date(2029, 8, 31)),
    "python3.14": (date(2029, 6, 30), date(2029, 7, 31), date(2029, 8, 31)),
}


def _context(info: ValidationInfo) -> tuple[Problems, date, Path]:
    context = info.context or {}
    return context["problems"], context["today"], Path(context["project_root"])


def check_version(version: VersionSettings, path: KeyPath, info: ValidationInfo) -> None:
    """What one version's own entry must satisfy: its code, its dates, its pin and canary."""
    problems, today, root = _context(info)
    if version.deployed:
        _code(version, path, root, problems)
    _lifecycle(version, path, today, problems)
    _traffic(version, path, problems)


def _code(version: VersionSettings, path: KeyPath, root: Path, problems: Problems) -> None:
    if version.image is not None and version.code is not None:
        problems.add((*path, "image"), "give code (a folder, deployed as a zip) or image (an ECR "
                     "digest), not both")  # fmt: skip
        return
    if version.image is None and version.local_code is not None:
        problems.add((*path, "localCode"), "only for an image version (the code its image "
                     "holds); a zip version's folder is `code`")  # fmt: skip
    if version.image is not None:
        if version.local_code is not None:
            _folder(version, version.local_code, (*path, "localCode"), root, problems)
        return
    if version.code is None:
        problems.add((*path, "code"), f"required for a {version.status} version; give the code "
                     "folder, or image: <ECR image digest>")  # fmt: skip
        return
    _folder(version, version.code, (*path, "code"), root, problems)


def _folder(
    version: VersionSettings, code: Path, where: KeyPath, root: Path, problems: Problems
) -> None:
    folder = code.resolve()
    if not folder.is_relative_to(root.resolve()):
        problems.add(where, f"{code} is outside the project; give a relative path")
        return
    relative = folder.relative_to(root.resolve())
    if not folder.is_dir():
        problems.add(
            where,
            f"folder {relative} does not exist; give the version's code folder relative to the "
            "project root",
        )
        return
    contract = folder / SURFACE_MODULE
    if contract.is_file():
        try:
            version._surface = declared_surface(contract.read_text())
        except (SyntaxError, ValueError) as error:
            problems.add(where, f"{relative / SURFACE_MODULE} does not declare a usable surface: "
                         f"{error}")  # fmt: skip


def _lifecycle(version: VersionSettings, path: KeyPath, today: date, problems: Problems) -> None:
    def at(key: str) -> KeyPath:
        return (*path, key)

    if version.status in ("deprecated", "retired"):
        for key, value in (
            ("deprecatedOn", version.deprecated_on),
            ("sunsetOn", version.sunset_on),
            ("successor", version.successor),
        ):
            if value is None:
                problems.add(at(key), f"required for a {version.status} version")
    deprecated_on, sunset_on = version.deprecated_on, version.sunset_on
    if sunset_on is not None and deprecated_on is None:
        problems.add(at("deprecatedOn"), "required when sunsetOn is set")
    if deprecated_on is not None and sunset_on is not None and sunset_on < deprecated_on:
        problems.add(
            at("sunsetOn"),
            f"{sunset_on} is before deprecatedOn {deprecated_on}; a version cannot be sunset "
            "before it is deprecated",
        )
    name = f"{path[1]} {version.key}" if len(path) > 1 else version.key
    if version.status == "active" and deprecated_on is not None and deprecated_on <= today:
        problems.warn(
            at("status"),
            f"deprecatedOn {deprecated_on} has come; mark {name} deprecated so callers get "
            "Deprecation and Sunset headers",
        )
    if version.status == "deprecated" and sunset_on is not None and sunset_on < today:
        problems.warn(
            at("status"),
            f"sunset {sunset_on} has passed and the version answers 410 Gone; mark it retired to "
            "remove its resources",
        )
    if version.status == "retired" and sunset_on is not None and sunset_on >= today:
        problems.add(
            at("status"),
            f"a version may be retired only after its sunset day ({sunset_on}); keep it "
            f"deprecated until {sunset_on + timedelta(days=1)}",
        )


def _traffic(version: VersionSettings, path: KeyPath, problems: Problems) -> None:
    if version.status == "deprecated":
        for key, value in (("pin", version.pin), ("canary", version.canary)):
            if value is not None:
                problems.add(
                    (*path, key),
                    "not allowed on a deprecated version; its alias must serve the newest "
                    "published version, the only one whose environment carries the deprecation "
                    "(published versions are immutable)",
                )
    if version.canary is None:
        return
    if version.pin is None:
        problems.add(
            (*path, "canary"),
            "requires pin; the alias keeps the pinned version and sends the canary share to the "
            "newest published version",
        )
    if version.provisioned_concurrency is not None:
        problems.add(
            (*path, "provisionedConcurrency"),
            "cannot be combined with canary; AWS rejects provisioned concurrency on an alias "
            "with a weighted routing config",
        )


def check_service(service: ServiceSettings, path: KeyPath, info: ValidationInfo) -> None:
    """What a service's entry must satisfy across its versions: handlers that resolve, routes
    that agree with the code, successors, consumers, names and runtimes."""
    problems, today, root = _context(info)
    _config_routes(service, path, problems)
    for version in service.versions.values():
        where = (*path, "versions", version.key)
        if (*path, "versions", version.key) in problems.invalid:
            continue
        if version.deployed:
            _handler(version, where, root, problems)
            _runtime(version, where, today, problems)
            if version.timeout_seconds > INTEGRATION_TIMEOUT_SECONDS:
                problems.warn(
                    (*where, "timeoutSeconds"),
                    f"{version.timeout_seconds}s exceeds the HTTP API's "
                    f"{INTEGRATION_TIMEOUT_SECONDS}s integration limit; API callers get 503 after "
                    f"{INTEGRATION_TIMEOUT_SECONDS}s while the function keeps running",
                )
        _successor(service, version, where, problems)
        _rollout(version, where, problems)
        if version.deployed:
            _queue(version, where, problems)
        role_name = len(f"{version.logical_name}-role") + AUTONAME_SUFFIX
        if role_name > ROLE_NAME_LIMIT:
            problems.add(
                where,
                f"the execution role name would have {role_name} characters, IAM allows "
                f"{ROLE_NAME_LIMIT}; shorten the service key",
            )
    _consumers(service, path, problems)


def _rollout(version: VersionSettings, path: KeyPath, problems: Problems) -> None:
    """A rollout needs an active version whose alias nothing else moves, a shift within
    CodeDeploy's 48 hours, and an example request per route for the pre-traffic check."""
    rollout = version.rollout
    if rollout is None:
        return
    where = (*path, "rollout")
    if version.status != "active":
        problems.add(
            where,
            f"only active versions roll out; a {version.status} version's alias must serve its "
            "newest published version, the only one that carries its lifecycle",
        )
        return
    for key, value in (("pin", version.pin), ("canary", version.canary)):
        if value is not None:
            problems.add(
                (*path, key),
                "cannot be combined with rollout: both would move the alias. Roll back either "
                "with pin (drop rollout; the alias serves the pinned version at once) or with "
                "rollout's automatic rollback (an alarm, or `mlserve rollout stop`)",
            )
    if version.provisioned_concurrency is not None:
        problems.add(
            (*path, "provisionedConcurrency"),
            "cannot be combined with rollout: CodeDeploy shifts traffic by weighting the alias, "
            "and AWS rejects provisioned concurrency on a weighted alias",
        )
    if rollout.shift_minutes > MAX_TRAFFIC_SHIFT_MINUTES:
        problems.add(
            (*where, "minutes"),
            f"{rollout.percent}% every {rollout.minutes} minutes shifts for "
            f"{rollout.shift_minutes} minutes; a Lambda deployment allows at most "
            f"{MAX_TRAFFIC_SHIFT_MINUTES} (48 hours) between its first and last shift",
        )
    for route, models in (version.surface or {}).get("routes", {}).items():
        if models.get("request") and "example" not in models:
            problems.add(
                where,
                f"route {route} declares no example request in {version.source}/contract.py "
                "SURFACE; the pre-traffic check sends it to every new Lambda version before "
                "traffic: add 'example': {...} to the route",
            )


def _queue(version: VersionSettings, path: KeyPath, problems: Problems) -> None:
    """A queue calls one route that takes a request, and gathers big batches in a window."""
    queue = version.queue
    if queue is None:
        return
    where = (*path, "queue") if version.queue_override is not None else (path[0], path[1], "queue")
    takes = version.routes_with_requests
    if queue.route is not None and Route.parse(queue.route) not in takes:
        problems.add((*where, "route"), f"{queue.route} is not a route of {version.service} "
                     f"{version.key} that takes a request; use one of "
                     f"{', '.join(r.key for r in takes) or '(none)'}")  # fmt: skip
    elif queue.route is None and len(takes) != 1:
        listed = ", ".join(r.key for r in takes)
        problems.add(where, f"{version.service} {version.key} has {len(takes)} routes that take "
                     f"a request ({listed}); say which one messages call, e.g. route: 'POST "
                     "/predict'" if takes else f"{version.service} {version.key} has no route "
                     "that takes a "
                     "request body; a queue's messages need one")  # fmt: skip
    if queue.max_receive_count < MIN_RECEIVES:
        problems.warn(
            (*where, "maxReceiveCount"),
            f"{queue.max_receive_count} receives move a message to the dead-letter queue; AWS "
            f"advises at least {MIN_RECEIVES} for a Lambda consumer, as a throttled batch counts "
            "as a receive too",
        )
    if queue.batch_size > 10 and queue.batch_window_seconds < 1:
        problems.add((*where, "batchSize"), f"{queue.batch_size} needs batchWindowSeconds of at "
                     "least 1 (Lambda takes more than 10 messages per batch only within a "
                     "batching window); set batchWindowSeconds or use at most 10")  # fmt: skip


def _config_routes(service: ServiceSettings, path: KeyPath, problems: Problems) -> None:
    if service.routes is None:
        return
    seen: dict[str, int] = {}
    for index, text in enumerate(service.routes):
        route = Route.parse(text)
        if route.slug in seen:
            same = service.routes[seen[route.slug]] == text
            problems.add(
                (*path, "routes", index),
                f"duplicate route {problems.shown(text, path)}; list each route once"
                if same
                else f"{problems.shown(text, path)} differs from another route only in "
                "punctuation; resource names would collide, rename one of them",
            )
        seen.setdefault(route.slug, index)
    disagreeing = [
        f"{version.key}'s code declares its routes ({', '.join(version.surface['routes'])})"
        for version in service.deployed_versions
        if version.surface is not None and set(service.routes) != set(version.surface["routes"])
    ]
    if disagreeing:
        problems.add(
            (*path, "routes"),
            f"{'; '.join(disagreeing)}: the config's routes must match the code's or be left out",
        )


def _handler(version: VersionSettings, path: KeyPath, root: Path, problems: Problems) -> None:
    if version.code is None or not version.code.is_dir():
        return  # the code folder's own problem is already told
    module, _, function = version.handler.rpartition(".")
    module_file = version.code / (module.replace(".", "/") + ".py")
    if not module or not function or not module_file.is_file():
        where = (*path, "handler") if version.handler_override else (path[0], path[1], "handler")
        relative = version.code.resolve().relative_to(root.resolve())
        problems.add(
            where,
            f"{problems.shown(version.handler, path)} does not name a function in a module of "
            f"{relative}; use 'module.function', e.g. app.handler",
        )


def _runtime(version: VersionSettings, path: KeyPath, today: date, problems: Problems) -> None:
    if version.image is not None:
        return  # an image brings its own runtime
    deprecation, no_create, no_update = RUNTIME_END[version.runtime]
    where = (*path, "runtime") if version.runtime_override else (path[0], path[1], "runtime")
    newer = "python3.13 or python3.14"
    if today >= no_update:
        problems.add(
            where,
            f"Lambda blocks updates of {version.runtime} functions since {no_update}; use {newer}",
        )
    elif today >= no_create:
        problems.warn(
            where,
            f"{version.runtime} was deprecated on {deprecation}; Lambda blocks new functions on it "
            f"since {no_create} and updates from {no_update}: move to {newer}",
        )
    elif today >= deprecation - timedelta(days=RUNTIME_NOTICE_DAYS):
        problems.warn(
            where,
            f"Lambda deprecates {version.runtime} on {deprecation} (no new functions from "
            f"{no_create}, no updates from {no_update}); plan the move to {newer}",
        )


def _successor(
    service: ServiceSettings, version: VersionSettings, path: KeyPath, problems: Problems
) -> None:
    if version.successor is None:
        return
    where = (*path, "successor")
    if (*path[:-1], version.successor) in problems.invalid:
        return
    successor = service.versions.get(version.successor)
    if successor is None:
        problems.add(
            where,
            f"{problems.shown(version.successor, path)} is not a version of {path[1]}; use one of "
            f"{', '.join(service.versions)}",
        )
    elif successor.major <= version.major:
        problems.add(
            where,
            f"{problems.shown(version.successor, path)} is not a higher major than {version.key}; "
            "a successor must be newer",
        )
    elif version.status == "deprecated" and not successor.deployed:
        problems.add(
            where,
            f"{problems.shown(version.successor, path)} is retired; callers must be sent to a "
            "version that answers",
        )


def _consumers(service: ServiceSettings, path: KeyPath, problems: Problems) -> None:
    for index, consumer in enumerate(service.consumers):
        for key in consumer.versions:
            where = (*path, "consumers", index, "versions")
            version = service.versions.get(key)
            if (*path, "versions", key) in problems.invalid:
                continue
            if version is None:
                problems.add(
                    where,
                    f"{problems.shown(key, path)} is not a version of {path[1]}; use one of "
                    f"{', '.join(service.versions)}",
                )
            elif not version.deployed:
                problems.add(
                    where, f"{problems.shown(key, path)} is retired and has no routes; remove it"
                )
    if service.consumers and service.auth != "iam":
        problems.add(
            (*path, "consumers"),
            "consumers need auth: iam; without it every route is public and a consumer grant "
            "means nothing",
        )


def check_stack(settings: Settings, problems: Problems) -> None:
    """What needs the whole stack: the deprecation window, physical names, the environment's
    size, the API's quotas and the custom domain's region."""
    for version in settings.versions():
        path = ("services", version.service, "versions", version.key)
        if version.deprecated_on is not None and version.sunset_on is not None:
            earliest = version.deprecated_on + timedelta(days=settings.deprecation_window_days)
            if version.sunset_on < earliest:
                problems.add(
                    (*path, "sunsetOn"),
                    f"{version.sunset_on} is less than mlserve:deprecationWindowDays "
                    f"({settings.deprecation_window_days}) after deprecatedOn "
                    f"{version.deprecated_on}; the earliest allowed sunset is {earliest}",
                )
        if not version.deployed:
            continue
        _image_home(settings, version, (*path, "image"), problems)
        if len(version.function_name) > FUNCTION_NAME_LIMIT:
            problems.add(
                path,
                f"function name {version.function_name!r} has {len(version.function_name)} "
                f"characters, Lambda allows {FUNCTION_NAME_LIMIT}; shorten mlserve:namePrefix or "
                "the service key",
            )
        for kind in QUEUE_SUFFIXES if version.queue is not None else ():
            name = version.queue_name(kind)
            if len(name) > QUEUE_NAME_LIMIT:
                problems.add(path, f"queue name {name!r} has {len(name)} characters, SQS allows "
                             f"{QUEUE_NAME_LIMIT}; shorten mlserve:namePrefix, "
                             "mlserve:environment or the service key")  # fmt: skip
        size = sum(len(k.encode()) + len(v.encode()) for k, v in version.variables.items())
        if version.queue is not None:  # https://sqs.<region>.amazonaws.com/<account>/<name>
            url = f"https://sqs.{'x' * 20}.amazonaws.com/{'0' * 12}/{version.queue_name('results')}"
            size += sum(len(k) + len(v) for k, v in version.queue_variables(url).items())
        if size > ENVIRONMENT_LIMIT:
            problems.add(
                (*path, "environment"),
                f"the function's variables (with the MLSERVE_* ones the program adds) take {size} "
                f"bytes; Lambda allows {ENVIRONMENT_LIMIT} in all. Move large values into the code "
                "folder or a parameter store",
            )
    _quotas(settings, problems)
    source = settings.promote_from
    if source is not None and source == settings.stack:
        problems.add(("promoteFrom",), f"{source!r} is this stack; name the stack that deploys "
                     "the same versions first, e.g. dev")  # fmt: skip
    elif source is not None and not (settings.project_root / f"Pulumi.{source}.yaml").is_file():
        problems.add(("promoteFrom",), f"there is no stack file Pulumi.{source}.yaml; name the "
                     "stack whose ledger this one's code must match, e.g. dev")  # fmt: skip
    platform = [
        ("the pre-traffic hook function", hook_function_name,
         any(v.rollout for v in settings.deployed_versions())),
        ("the pruning janitor (and its schedule)", janitor_function_name,
         settings.pruning is not None),
    ]  # fmt: skip
    for what, formula, used in platform:
        name = formula(settings.name_prefix, settings.environment)
        if used and len(name) > FUNCTION_NAME_LIMIT:
            problems.add(
                ("namePrefix",),
                f"{what} {name!r} has {len(name)} characters, Lambda allows "
                f"{FUNCTION_NAME_LIMIT}; shorten mlserve:namePrefix or mlserve:environment",
            )
    domain = settings.api.domain
    match = CERTIFICATE_ARN.fullmatch(domain.certificate_arn) if domain else None
    if match is not None and settings.region is not None and match.group(1) != settings.region:
        problems.add(
            ("api", "domain", "certificateArn"),
            f"the certificate is in {match.group(1)}, but the stack deploys to {settings.region} "
            f"(aws:region); a regional custom domain needs a certificate issued or imported in "
            f"ACM in {settings.region}",
        )


def _image_home(
    settings: Settings, version: VersionSettings, where: KeyPath, problems: Problems
) -> None:
    """An image lives in the stack's ECR repository of its service, in the stack's region (Lambda
    pulls images only from its own region's registry)."""
    found = version.image_repository
    if found is None:
        return
    _, region, repository = found
    expected = image_repository(settings.name_prefix, version.service)
    if repository != expected:
        problems.add(where, f"the image is in repository {repository!r}; push it to {expected!r}, "
                     "the repository the stack keeps for the service (IMMUTABLE tags, scanned, "
                     "never expiring a tagged image)")  # fmt: skip
    if settings.region is not None and region != settings.region:
        problems.add(where, f"the image is in {region}, the stack deploys to {settings.region}; "
                     "Lambda pulls images only from its own region")  # fmt: skip


def _quotas(settings: Settings, problems: Problems) -> None:
    """Each HTTP API's routes and integrations (one API, or one per service), and what a custom
    domain can map."""
    deployed = settings.deployed_versions()
    by_api: dict[str, list[VersionSettings]] = {}
    for version in deployed:
        by_api.setdefault(settings.api.api_of(version.service), []).append(version)
    quota = settings.api.route_quota
    for api, versions in by_api.items():
        routes = sum(len(version.all_routes) for version in versions)
        if routes > quota or len(versions) > MAX_INTEGRATIONS:
            where = ("services", versions[0].service) if settings.api.per_service else ("services",)
            split = (
                "Retire old versions of the service" if settings.api.per_service
                else "Retire old versions, or give every service its own API "
                "(mlserve:api.layout: perService, with a custom domain to keep the URLs)"
            )  # fmt: skip
            problems.add(
                where,
                f"the HTTP API {api} would have {routes} routes and {len(versions)} "
                f"integrations; the quotas per API are {quota} routes (mlserve:api.routeQuota, "
                f"raise it only after AWS raised it for every API of the stack) and "
                f"{MAX_INTEGRATIONS} integrations (fixed). {split}",
            )
    if settings.api.per_service and settings.api.domain is None:
        problems.warn(
            ("api", "layout"),
            "perService without mlserve:api.domain gives every service its own execute-api URL "
            "(the `endpoints` output names them); callers keep one base URL only on a custom "
            "domain, where each service's API is mapped at /<service>",
        )
    deprecated = [v for v in deployed if v.status == "deprecated"]
    if len(deprecated) > MAX_DEPRECATED_VERSIONS:
        problems.add(
            ("services",),
            f"{len(deprecated)} versions are deprecated; a stack counts the callers of at most "
            f"{MAX_DEPRECATED_VERSIONS} (a metric filter each on the access log, whose quota is "
            "100, and a Contributor Insights rule each). Retire versions past their sunset",
        )
