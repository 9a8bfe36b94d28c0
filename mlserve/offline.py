"""The offline engine: runs the real program under Pulumi mocks and records what the engine sees."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import runpy
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks, set_mocks
from pulumi.runtime.settings import get_root_resource, reset_options
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.settings import Settings, decode_engine_config, parse_settings, today_utc

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


class RecordingMonitor(MockMonitor):
    """A mock resource monitor that keeps every RegisterResource request and its answer."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
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
            )
        )
        return response


class AwsMocks(Mocks):
    """Deterministic stand-ins for what AWS computes (ARNs, ids, published versions).

    In preview mode computed values are left out, as the engine leaves them unknown for resources
    that do not exist yet.
    """

    def __init__(self, preview: bool = False, published_version: str = "7") -> None:
        self.preview = preview
        self.published_version = published_version

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        name = inputs.get("name") or f"{args.name}-{_short_hash(args.name)}"
        resource_id = f"{_short_hash(args.typ + args.name)}"
        if self.preview:
            return resource_id, inputs
        region_account = f"{REGION}:{ACCOUNT_ID}"
        computed: dict[str, Any] = {}
        if args.typ == "aws:iam/role:Role":
            computed = {"name": name, "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"}
            resource_id = name
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            computed = {"arn": f"arn:aws:logs:{region_account}:log-group:{name}"}
        elif args.typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region_account}:function:{name}"
            computed = {
                "arn": arn,
                "version": self.published_version,
                "qualifiedArn": f"{arn}:{self.published_version}",
                "invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
                f"{arn}/invocations",
            }
            resource_id = name
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
            computed = {"domainName": inputs["domainName"]}
        computed.setdefault("arn", f"arn:aws:mock:{region_account}:{args.typ}/{resource_id}")
        return resource_id, {**inputs, **computed}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            identity = {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
                "id": ACCOUNT_ID,
                "userId": "AIDAMOCK",
            }
            return identity, []
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


def engine_config(stack_file: Path) -> dict[str, str]:
    """A stack file's config as the engine hands it to the program: strings, objects as JSON."""
    document = yaml.safe_load(stack_file.read_text()) or {}
    config = document.get("config") or {}
    return {
        key: value if isinstance(value, str) else json.dumps(value, default=str)
        for key, value in config.items()
    }


def stack_files(project_root: Path = PROJECT_ROOT) -> dict[str, Path]:
    """Every stack file of the project by stack name."""
    return {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml"): path
        for path in sorted(project_root.glob("Pulumi.*.yaml"))
    }


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
    mocks: Mocks | None = None,
    program: Path = PROJECT_ROOT / "__main__.py",
) -> ProgramRun:
    """Run `__main__.py` once under the recording monitor, isolated from any earlier run.

    A config error (pulumi.RunError) is returned in `error` rather than raised, as the engine
    reports it without a stack trace.
    """
    reset_options(project=PROJECT, stack=stack, preview=preview)
    set_all_config(dict(config))
    monitor = RecordingMonitor(mocks or AwsMocks(preview=preview))
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
    stack_resource = get_root_resource()
    exported = getattr(stack_resource, "outputs", {}) or {}
    outputs = _sync_await(pulumi.Output.from_input(exported).future(with_unknowns=True)) or {}
    return ProgramRun(
        stack=stack,
        registrations=monitor.registrations,
        outputs=dict(outputs),
        warnings=capture.messages,
        error=error,
        preview=preview,
        config=dict(config),
    )


def stack_config(stack: str) -> dict[str, str]:
    """The engine config of one of the project's stack files (`Pulumi.<stack>.yaml`)."""
    return engine_config(stack_files()[stack])


def stack_settings(stack: str, today: date | None = None) -> Settings:
    """A stack file's settings without running Pulumi (raises ConfigError like the program)."""
    return parse_settings(
        decode_engine_config(stack_config(stack)),
        stack=stack,
        project_root=PROJECT_ROOT,
        today=today or today_utc(),
    )
