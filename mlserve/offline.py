"""The offline engine: runs the real program under Pulumi mocks and records what the engine sees."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import os
import runpy
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks, set_mocks
from pulumi.runtime.settings import get_root_resource, reset_options
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "mlserve"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class Registration:
    """One RegisterResource request as the engine received it, with the mock's answer."""

    urn: str
    id: str
    type: str
    name: str
    custom: bool
    parent: str
    protect: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    provider: str
    ignore_changes: tuple[str, ...] = ()


VERSION_COMPONENT = "mlserve:lambda:VersionedFunction"
FUNCTION = "aws:lambda/function:Function"
PUBLISHED_OUTPUTS = ("version", "qualifiedArn", "qualifiedInvokeArn")
API_GATEWAY_ZONE = "Z1UJRXOUMOOFQ8"  # Route 53 zone of regional API Gateway endpoints, us-east-1


@dataclass(frozen=True)
class Deployed:
    """What the stack already has before this deployment, as far as the engine's answers depend
    on it: the versions that exist, each function's newest published version, and which
    functions this deployment publishes again. No `Deployed` at all means a fresh stack."""

    versions: frozenset[str]
    """Logical names (`churn-v2`) of the versions the stack already has."""
    published: Mapping[str, int]
    """Newest published Lambda version by function name."""
    unchanged: frozenset[str] = frozenset()
    """Functions whose code and configuration this deployment leaves alone (no new version)."""


class RecordingMonitor(MockMonitor):
    """A mock resource monitor that keeps every RegisterResource request and its answer, and
    tells the mocks which resources are new: those of a version the stack does not have yet and
    those computed from a new resource."""

    def __init__(self, mocks: Mocks, deployed: Deployed | None = None) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.deployed = deployed
        self.new_urns: set[str] = set()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        if self._is_new(request):
            self.new_urns.add(urn)
        if isinstance(self.mocks, AwsMocks):
            self.mocks.registering_new = urn in self.new_urns
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        self.registrations.append(
            Registration(
                urn=response.urn,
                id=response.id,
                type=request.type,
                name=request.name,
                custom=request.custom,
                parent=request.parent,
                protect=request.protect,
                inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                outputs=rpc.deserialize_properties(response.object, keep_unknowns=True),
                dependencies=tuple(request.dependencies),
                property_dependencies={
                    key: tuple(value.urns) for key, value in request.propertyDependencies.items()
                },
                provider=request.provider,
                ignore_changes=tuple(request.ignoreChanges),
            )
        )
        return response

    def _is_new(self, request: Any) -> bool:
        if self.deployed is None:
            return True
        if request.type == VERSION_COMPONENT and request.name not in self.deployed.versions:
            return True
        return request.parent in self.new_urns or any(
            urn in self.new_urns for urn in request.dependencies
        )


class AwsMocks(Mocks):
    """Deterministic stand-ins for what AWS computes (ARNs, ids, published versions).

    During a preview a new resource's computed values are left out, as the engine leaves them
    unknown, and so are the published version and qualified ARNs of a function that will publish
    a new version; a deployment answers them all. `deployed` says what the stack already has
    (None: a fresh stack, where every function publishes version 1).
    """

    def __init__(self, preview: bool = False, deployed: Deployed | None = None) -> None:
        self.preview = preview
        self.deployed = deployed
        self.registering_new = deployed is None
        """Set by RecordingMonitor for the resource being registered."""

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        name = inputs.get("name") or f"{args.name}-{_short_hash(args.name)}"
        resource_id = f"{_short_hash(args.typ + args.name)}"
        if self.preview and self.registering_new:
            return resource_id, inputs
        region_account = f"{REGION}:{ACCOUNT_ID}"
        computed: dict[str, Any] = {}
        if args.typ == "aws:iam/role:Role":
            computed = {"name": name, "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"}
            resource_id = name
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            computed = {"arn": f"arn:aws:logs:{region_account}:log-group:{name}"}
        elif args.typ == FUNCTION:
            arn = f"arn:aws:lambda:{region_account}:function:{name}"
            computed = {
                "arn": arn,
                "invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                f"{arn}/invocations",
            }
            version = self._published_version(name)
            if version is not None:
                computed.update(
                    {
                        "version": version,
                        "qualifiedArn": f"{arn}:{version}",
                        "qualifiedInvokeArn": "arn:aws:apigateway:"
                        f"{REGION}:lambda:path/2015-03-31/functions/{arn}:{version}/invocations",
                    }
                )
            resource_id = name
        elif args.typ == "aws:sqs/queue:Queue":  # the provider's id of a queue is its URL
            resource_id = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{name}"
            computed = {"arn": f"arn:aws:sqs:{region_account}:{name}", "url": resource_id}
        elif args.typ == "aws:lambda/alias:Alias":
            arn = f"arn:aws:lambda:{region_account}:function:{inputs['functionName']}:{name}"
            computed = {"arn": arn}
        elif args.typ == "aws:lambda/layerVersion:LayerVersion":
            computed = {
                "arn": f"arn:aws:lambda:{region_account}:layer:{inputs['layerName']}:1",
                "version": "1",
            }
        elif args.typ == "aws:apigatewayv2/api:Api":
            computed = {
                "apiEndpoint": f"https://{resource_id}.execute-api.{REGION}.amazonaws.com",
                "executionArn": f"arn:aws:execute-api:{region_account}:{resource_id}",
            }
        elif args.typ == "aws:apigatewayv2/domainName:DomainName":
            computed = {
                "domainName": inputs["domainName"],
                "domainNameConfiguration": {
                    **inputs.get("domainNameConfiguration", {}),
                    "targetDomainName": f"d-{resource_id}.execute-api.{REGION}.amazonaws.com",
                    "hostedZoneId": API_GATEWAY_ZONE,
                },
            }
        elif args.typ == "aws:codedeploy/deploymentGroup:DeploymentGroup":
            group = f"{inputs['appName']}/{inputs['deploymentGroupName']}"
            computed = {"arn": f"arn:aws:codedeploy:{region_account}:deploymentgroup:{group}"}
        elif args.typ == "aws:codedeploy/application:Application":
            computed = {"arn": f"arn:aws:codedeploy:{region_account}:application:{name}"}
        elif args.typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            computed = {"arn": f"arn:aws:cloudwatch:{region_account}:alarm:{name}"}
        computed.setdefault("arn", f"arn:aws:mock:{region_account}:{args.typ}/{resource_id}")
        return resource_id, {**inputs, **computed}

    def _published_version(self, function: str) -> str | None:
        """The function's newest published version after this step, None while unknown."""
        before = None if self.deployed is None else self.deployed.published.get(function)
        if before is None or self.registering_new:
            return None if self.preview else "1"
        if function in self.deployed.unchanged:  # type: ignore[union-attr]
            return str(before)
        return None if self.preview else str(before + 1)

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            identity = {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
                "id": ACCOUNT_ID,
                "userId": "AIDAMOCK",
            }
            return identity, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION}, []
        return {}, []


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:7]


@dataclass
class ProgramRun:
    """What one run of the program showed the engine."""

    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    warnings: list[str]
    error: str | None = None
    preview: bool = False
    config: dict[str, str] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registration]:
        """The registrations of one resource type."""
        return [r for r in self.registrations if r.type == type_]

    def by_name(self, name: str, type_: str | None = None) -> Registration:
        """The registration with this logical name (and type, where a component shares it)."""
        matches = [r for r in self.registrations if r.name == name and type_ in (None, r.type)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} registrations named {name!r}")
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        """The registration with this URN."""
        return next(r for r in self.registrations if r.urn == urn)


def _ensure_event_loop() -> None:
    """Give this thread an event loop for Pulumi's runtime (which uses the thread's current one)
    when an earlier `asyncio.run` in the same process left it without."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _pinned_today(today: str | None) -> Iterator[None]:
    previous = os.environ.get("MLSERVE_TODAY")
    if today is not None:
        os.environ["MLSERVE_TODAY"] = today
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLSERVE_TODAY", None)
        else:
            os.environ["MLSERVE_TODAY"] = previous


def run_program(
    config: Mapping[str, str],
    *,
    stack: str,
    preview: bool = False,
    today: str | None = None,
    deployed: Deployed | None = None,
    secret_keys: Sequence[str] = (),
    mocks: Mocks | None = None,
    program: Path = PROJECT_ROOT / "__main__.py",
) -> ProgramRun:
    """Run `__main__.py` once under the recording monitor, isolated from any earlier run: a
    preview or a deployment (`preview=False`) of a fresh stack, or of one that already has what
    `deployed` says.

    A config error (pulumi.RunError) is returned in `error` rather than raised, as the engine
    reports it without a stack trace.
    """
    _ensure_event_loop()
    reset_options(project=PROJECT, stack=stack, preview=preview)
    set_all_config(dict(config), list(secret_keys))
    monitor = RecordingMonitor(mocks or AwsMocks(preview=preview, deployed=deployed), deployed)
    logger = logging.getLogger(f"mlserve.offline.{stack}")
    logger.propagate = False
    capture = _Capture()
    logger.handlers = [capture]
    set_mocks(
        monitor.mocks, project=PROJECT, stack=stack, preview=preview, logger=logger,
        monitor=monitor,
    )  # fmt: skip
    if str(program.parent) not in sys.path:
        sys.path.insert(0, str(program.parent))
    error: str | None = None

    def main() -> None:
        runpy.run_path(str(program), run_name="__main__")

    with _pinned_today(today):
        try:
            _sync_await(run_pulumi_func(main))
        except pulumi.RunError as exc:
            error = str(exc)
        finally:
            gc.unfreeze()  # the program turns the collector off for its own short life;
            gc.enable()  # this process lives on, so every run starts and ends with it on
    outputs: dict[str, Any] = {}
    if error is None:  # a failed program leaves no outputs, and resolving them would fail again
        exported = getattr(get_root_resource(), "outputs", {}) or {}
        resolved = pulumi.Output.from_input(exported).future(with_unknowns=True)
        outputs = _sync_await(resolved) or {}  # type: ignore[arg-type]
    # Finalise what the run left behind (tasks, futures, the mocks' cycles) now rather than at
    # whatever later moment the collector picks: seen otherwise breaking CPython 3.11's
    # recursion accounting in an unrelated ast.parse (a SystemError in pytest's rewriting). The
    # tasks of a failed program hold its error, already reported in `error`: asyncio would log
    # each one again as "never retrieved".
    loop = asyncio.get_event_loop()
    handler = loop.get_exception_handler()
    if error is not None:
        loop.set_exception_handler(lambda _loop, _context: None)
    try:
        gc.collect()
    finally:
        loop.set_exception_handler(handler)
    return ProgramRun(
        stack=stack,
        registrations=monitor.registrations,
        outputs=dict(outputs),
        warnings=capture.messages,
        error=error,
        preview=preview,
        config=dict(config),
    )


def deployed_from_ledger(ledger: Mapping[str, Any], settings: Settings) -> Deployed:
    """What a stack has according to the ledger of its last deployment: its versions, each
    function's newest published version, and which functions this config leaves unchanged (the
    same revision: code and configuration), so they publish nothing new."""
    from components.versioned_function import function_revision, version_code_sha256

    versions = ledger.get("versions")
    by_service: Mapping[str, Any] = versions if isinstance(versions, Mapping) else ledger
    entries = {
        (service, version): entry
        for service, versions in by_service.items()
        if isinstance(versions, Mapping)
        for version, entry in versions.items()
        if isinstance(entry, Mapping) and entry.get("status") != "retired"
    }
    published: dict[str, int] = {}
    for entry in entries.values():
        newest = str(entry.get("publishedVersion") or entry.get("lambdaVersion"))  # older ledgers
        if isinstance(entry.get("function"), str) and newest.isdigit():
            published[entry["function"]] = int(newest)
    unchanged = {
        version.function_name
        for version in settings.deployed_versions()
        if (recorded := entries.get((version.service, version.key))) is not None
        and recorded.get("revision")
        == function_revision(settings, version, version_code_sha256(settings, version))
    }
    return Deployed(
        versions=frozenset(f"{service}-{version}" for service, version in entries),
        published=published,
        unchanged=frozenset(unchanged),
    )
