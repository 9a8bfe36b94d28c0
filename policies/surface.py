"""A version that callers can call keeps answering as it did: every route the last deployment
served for it stays, with no stricter auth, on the same custom domain; its registered code is the
version it claims to be and its handler exists in it (checked per function, as it is
registered); and no throttling shuts callers out.
Everything is read from the resources (the route keys, the code package the function uploads),
never from the config's promises about them."""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import (
    SINGLE_LAYOUT,
    SURFACE_MODULE,
    VersionRef,
    declared_surface,
    parse_function_name,
)
from ledger import LEDGER_SCHEMA, Ledger, LedgerEntry, judgement
from properties import Unknown, Unknowns, guarded, items, lookup, text
from resources import API, API_MAPPING, DOMAIN, EVENT_SOURCE_MAPPING, FUNCTION, ROUTE, STAGE
from stack_config import StackConfig, stack_config
from stack_index import StackIndex, api_service, index_stack, linked, public_key, source_queue_name

THROTTLES = ("throttlingBurstLimit", "throttlingRateLimit")


def versions_keep_their_surface_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Judge the routes, auth, domain, code and throttling callers depend on."""
    config = stack_config()
    judged = judgement(args.get_config(), config.stack, report_violation, owner=False)
    if judged is None:
        return
    index = index_stack(args.resources)
    unknowns = Unknowns()
    for stage in index.of_type(STAGE):
        for problem in _throttle_problems(stage, unknowns):
            report_violation(problem, stage.urn)
    if judged.ledger is not None:
        for problem in _ledger_problems(judged.ledger, index, unknowns):
            report_violation(problem, None)
    unknowns.raise_if_any()


def _ledger_problems(ledger: Ledger, index: StackIndex, unknowns: Unknowns) -> Iterator[str]:
    config = stack_config()
    routes: dict[str, PolicyResource] = {}
    routes_later = 0
    for route in index.of_type(ROUTE):
        key = public_key(route, config)
        if isinstance(key, str):
            routes[key] = route
        else:
            routes_later += 1
    answering = []
    for entry in ledger.answering():
        current = config.version(entry.ref.service, entry.ref.version)
        if current is None or current.status == "retired":
            continue  # no-removal-of-non-deprecated-versions judges whether it may leave
        answering.append(entry)
        if entry.routes is None:
            continue  # a first-format ledger kept no surface (its note says so)
        for key in entry.routes:
            found = routes.get(key)
            if found is None:
                if routes_later:
                    unknowns.note(f"whether route {key} stays")
                    continue
                yield (
                    f"{entry.ref}: route {key} was served by the last deployment and would be "
                    f"gone; callers of {entry.ref.version} still call it. A major keeps its "
                    f"routes: publish the change as a new major version (v{entry.ref.major + 1})"
                )
                continue
            auth = text(found.props, "authorizationType")
            if isinstance(auth, Unknown):
                unknowns.note(f"{found.name}.authorizationType")
            elif entry.auth == "none" and auth not in (None, "NONE"):
                yield (
                    f"{entry.ref}: route {key} answered unsigned requests and would require "
                    f"{auth}; callers of {entry.ref.version} would be refused. Keep auth: none "
                    f"for {entry.ref.version} and require IAM from a new major"
                )
    yield from _queue_problems(answering, index, unknowns)
    if not answering:
        return
    if ledger.domain:
        yield from _domain_problems(ledger.domain, answering, index, config, unknowns)
    elif (ledger.layout or SINGLE_LAYOUT) != config.layout:
        yield (
            f"mlserve:api.layout would change from {ledger.layout or SINGLE_LAYOUT} to "
            f"{config.layout} while {_listed(answering)} answer on the execute-api URL: every "
            "base URL would change (each layout's APIs are new APIs). Give the stack a custom "
            "domain (mlserve:api.domain) and deploy it first, so callers move to it, then change "
            "the layout"
        )


def _domain_problems(
    domain: str,
    answering: list[LedgerEntry],
    index: StackIndex,
    config: StackConfig,
    unknowns: Unknowns,
) -> Iterator[str]:
    """The domain stays, and on the perService layout it maps /<service> to the service's own
    API for every service with a version answering on it."""
    domains = [lookup(resource.props, "domainName") for resource in index.of_type(DOMAIN)]
    if any(isinstance(name, Unknown) for name in domains):
        unknowns.note("the custom domain's name")
        return
    if domain not in domains:
        yield (
            f"the custom domain {domain}, on which {_listed(answering)} answer, would be gone; "
            f"callers use https://{domain}/... as the base URL. Keep mlserve:api.domain while "
            "any version answers on it"
        )
        return
    if not config.per_service:
        return
    mapped: set[str] = set()
    for mapping in index.of_type(API_MAPPING):
        key = text(mapping.props, "apiMappingKey")
        apis = linked(mapping, "apiId", API)
        service = api_service(apis[0], config) if apis else None
        if isinstance(key, Unknown) or isinstance(service, Unknown):
            unknowns.note(f"{mapping.name}'s mapping key and API")
        elif key is not None and key == service:
            mapped.add(key)
    for service in sorted({entry.ref.service for entry in answering} - mapped):
        versions = _listed([entry for entry in answering if entry.ref.service == service])
        yield (
            f"https://{domain}/{service}/... would not reach {service}'s API: no API mapping "
            f"with key {service!r} maps it on the domain, and {versions} answer there. Map "
            f"each service's API on the domain with api_mapping_key = <service>"
        )


def _listed(entries: list[LedgerEntry]) -> str:
    return ", ".join(str(entry.ref) for entry in entries)


def _queue_problems(
    answering: list[LedgerEntry], index: StackIndex, unknowns: Unknowns
) -> Iterator[str]:
    """A version's batch callers keep its work queue, a mapping that reads it, and its results
    queue, under the names the last deployment had."""
    if index.queues_named_later:
        unknowns.note("the names of new queues")
    read: set[str] = set()  # names of the queues some enabled mapping reads
    for mapping in index.of_type(EVENT_SOURCE_MAPPING):
        enabled = lookup(mapping.props, "enabled")
        name = source_queue_name(mapping)
        if isinstance(enabled, Unknown) or isinstance(name, Unknown):
            unknowns.note(f"{mapping.name}: whether and what it reads")
        elif enabled is not False and name is not None:  # a disabled mapping reads nothing
            read.add(name)
    queues = index.queues_by_name
    for entry in answering:
        if entry.queues is None:
            continue
        for kind in ("work", "results"):
            name = entry.queues[kind]
            if name not in queues:
                yield (
                    f"{entry.ref}: its {kind} queue {name} would be gone; its batch callers "
                    f"{'send to' if kind == 'work' else 'read'} it. A major keeps its queues: "
                    f"keep `queue` on {entry.ref.version} until it is retired"
                )
        work = entry.queues["work"]
        if work in queues and work not in read:
            yield (
                f"{entry.ref}: nothing would read its work queue {work} (no event "
                "source mapping); its batch callers' messages would wait unanswered. Keep the "
                "mapping while the version has callers"
            )


def lambda_code_is_its_version_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Read the code package a version function uploads: its contract's declared identity and
    the module its handler names."""
    if args.resource_type != FUNCTION:
        return
    unknowns = Unknowns()
    for problem in _code_problems(args.props, stack_config().name_prefix, unknowns):
        report_violation(problem, None)
    unknowns.raise_if_any()


def _code_problems(props: Any, name_prefix: str, unknowns: Unknowns) -> list[str]:
    """Whether the code package the function uploads is the version it is named for, and holds
    the function its handler names."""
    if text(props, "packageType") == "Image":
        return []  # an image's code is not readable here; its digest says what it runs
    name = text(props, "name")
    handler = text(props, "handler")
    archive = lookup(props, "code")
    if isinstance(name, Unknown) or isinstance(handler, Unknown) or isinstance(archive, Unknown):
        unknowns.note("code and handler")
        return []
    ref = parse_function_name(name_prefix, name) if isinstance(name, str) else None
    if ref is None or not isinstance(handler, str):
        return []  # lambda-function-name-matches-version reports the name
    module, _, attribute = handler.rpartition(".")
    module_file = module.replace(".", "/") + ".py"
    files = _package(archive, (module_file, SURFACE_MODULE))
    if files is None:
        unknowns.note("the code package (not readable where the pack runs)")
        return []
    problems = []
    if not module or module_file not in files:
        problems.append(
            f"{ref} ({name}): handler {handler!r} names module {module_file}, which its code "
            "package does not hold; every invocation would fail"
        )
    elif not _defines(files[module_file], attribute):
        problems.append(
            f"{ref} ({name}): handler {handler!r}: {module_file} defines no {attribute!r}; every "
            "invocation would fail"
        )
    if SURFACE_MODULE in files:
        try:
            surface = declared_surface(files[SURFACE_MODULE])
        except (SyntaxError, ValueError) as error:
            surface, problems = None, [*problems, f"{ref} ({name}): {SURFACE_MODULE}: {error}"]
        if surface is not None and VersionRef(surface["service"], surface["version"]) != ref:
            problems.append(
                f"{ref} ({name}) would run the code of {surface['service']} {surface['version']} "
                "(its contract declares so), which would refuse to start; deploy the version's "
                "own code folder"
            )
    return problems


def _package(archive: Any, members: tuple[str, ...]) -> dict[str, str] | None:
    """The text of those `members` a code archive holds, or None if it is unreadable."""
    path = getattr(archive, "path", None)
    if not isinstance(archive, pulumi.Archive) or not isinstance(path, str):
        return None
    location = Path(path)
    try:
        if location.is_dir():
            return {
                member: (location / member).read_text(errors="replace")
                for member in members
                if (location / member).is_file()
            }
        with zipfile.ZipFile(location) as package:
            held = set(package.namelist())
            return {
                member: package.read(member).decode("utf-8", errors="replace")
                for member in members
                if member in held
            }
    except (OSError, zipfile.BadZipFile):
        return None


def _defines(source: str, attribute: str) -> bool:
    """Whether a module binds `attribute` at its top level (a def, a class or an assignment)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name == attribute
        ):
            return True
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == attribute for t in targets):
            return True
        if isinstance(node, ast.ImportFrom | ast.Import) and any(
            (alias.asname or alias.name.split(".")[-1]) == attribute for alias in node.names
        ):
            return True
    return False


def _throttle_problems(stage: PolicyResource, unknowns: Unknowns) -> list[str]:
    """Throttling of zero rejects every request (429) on the routes it covers."""
    settings = [("default route settings", lookup(stage.props, "defaultRouteSettings"))]
    settings += [("route settings", setting) for setting in items(stage.props, "routeSettings")]
    problems = []
    for where, setting in settings:
        for key in THROTTLES:
            value = lookup(setting, key)
            if isinstance(value, Unknown):
                unknowns.note(f"{stage.name}.{key}")
            elif isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
                route = text(setting, "routeKey") or "every route"
                problems.append(
                    f"stage {stage.name!r}: {where} {key} = {value} rejects every request on "
                    f"{route}; callers would get 429 Too Many Requests. Raise it above 0"
                )
    return problems


versions_keep_their_surface = StackValidationPolicy(
    name="versions-keep-their-surface",
    description=(
        "Requires every version the last deployment served to keep its routes, its auth (never "
        "stricter) and its custom domain; prohibits throttling of zero."
    ),
    validate=guarded(versions_keep_their_surface_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=LEDGER_SCHEMA,
    remediation_steps=(
        "Inside a major, only add routes, loosen auth or raise limits; anything that would "
        "refuse a caller of the major goes into a new major version. Keep mlserve:api.domain "
        "while versions answer on it, and throttling above 0."
    ),
)

lambda_code_is_its_version = ResourceValidationPolicy(
    name="lambda-code-is-its-version",
    description=(
        "Requires each version function's code package to be the code of the version it is "
        "named for (its contract's SURFACE) and to hold the function its handler names."
    ),
    validate=guarded(lambda_code_is_its_version_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Deploy each version from its own code folder (a copied folder's SURFACE says the "
        "version it now is) with a handler `module.function` that its code defines."
    ),
)
