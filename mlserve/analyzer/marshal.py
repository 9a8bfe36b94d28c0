"""A recorded program run as the engine marshals it for analyzers: AnalyzerResource messages with
the default providers, unknowns as the unknown sentinel, assets and archives as signatures."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.output import Unknown
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy.deserialize import (
    SPECIAL_ARCHIVE_SIG,
    SPECIAL_ASSET_SIG,
    SPECIAL_SIG_KEY,
)

from mlserve.offline import PROJECT, ProgramRun, Registration

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # how the engine marshals a computed value
STACK_TYPE = "pulumi:pulumi:Stack"


def resources_from_run(
    run: ProgramRun, *, inputs: bool = False
) -> list[analyzer_pb2.AnalyzerResource]:
    """The run's resources as the engine's AnalyzerResource messages, in registration order,
    with the default providers the engine registers itself: outputs for AnalyzeStack, or the
    checked inputs (`inputs=True`) for Analyze. The stack resource carries the exports."""
    providers = _default_providers(run)
    explicit = {
        registration.urn: _Provider(
            urn=registration.urn,
            name=registration.name,
            type=registration.type,
            inputs=registration.inputs,
        )
        for registration in run.registrations
        if registration.type.startswith("pulumi:providers:")
    }
    messages: list[analyzer_pb2.AnalyzerResource] = []
    announced: set[str] = set()
    for registration in run.registrations:
        provider: _Provider | None = None
        if registration.provider:
            # A provider reference is `<provider urn>::<provider id>`.
            provider = explicit.get(registration.provider.rsplit("::", 1)[0])
        elif registration.custom:
            provider = providers.get(_package(registration.type))
            if provider is not None and provider.urn not in announced:
                messages.append(_provider_resource(provider))
                announced.add(provider.urn)
        messages.append(_resource(registration, run, inputs=inputs, provider=provider))
    return messages


@dataclass(frozen=True)
class _Provider:
    urn: str
    name: str
    type: str
    inputs: dict[str, Any]


def _package(resource_type: str) -> str:
    return resource_type.split(":", 1)[0]


def _default_providers(run: ProgramRun) -> dict[str, _Provider]:
    """The engine's default provider per package: `default_<version>`, configured from the
    package's config namespace (e.g. aws:region)."""
    providers: dict[str, _Provider] = {}
    for registration in run.registrations:
        package = _package(registration.type)
        if not registration.custom or registration.provider or package in ("pulumi", *providers):
            continue
        try:
            version = importlib.metadata.version(f"pulumi-{package}")
        except importlib.metadata.PackageNotFoundError:
            version = "0.0.0"
        name = f"default_{version.replace('.', '_')}"
        inputs: dict[str, Any] = {"version": version}
        for key, value in run.config.items():
            namespace, _, setting = key.partition(":")
            if namespace == package:
                inputs[setting] = value
        providers[package] = _Provider(
            urn=f"urn:pulumi:{run.stack}::{PROJECT}::pulumi:providers:{package}::{name}",
            name=name,
            type=f"pulumi:providers:{package}",
            inputs=inputs,
        )
    return providers


def _provider_resource(provider: _Provider) -> analyzer_pb2.AnalyzerResource:
    return analyzer_pb2.AnalyzerResource(
        type=provider.type,
        urn=provider.urn,
        name=provider.name,
        properties=to_struct(provider.inputs),
        options=analyzer_pb2.AnalyzerResourceOptions(),
    )


def _resource(
    registration: Registration, run: ProgramRun, *, inputs: bool, provider: _Provider | None
) -> analyzer_pb2.AnalyzerResource:
    if registration.type == STACK_TYPE and not registration.parent:
        properties = {} if inputs else dict(run.outputs)
    else:
        properties = registration.inputs if inputs else registration.outputs
    message = analyzer_pb2.AnalyzerResource(
        type=registration.type,
        urn=registration.urn,
        name=registration.name,
        properties=to_struct(properties),
        options=analyzer_pb2.AnalyzerResourceOptions(
            protect=registration.protect,
            ignoreChanges=list(registration.ignore_changes),
            # Analyze carries the parent in the options, AnalyzeStack beside them (engine code).
            parent=registration.parent if inputs else "",
        ),
        parent=registration.parent,
        dependencies=list(registration.dependencies),
    )
    for key, urns in registration.property_dependencies.items():
        message.propertyDependencies[key].urns.extend(urns)
    if provider is not None:
        message.provider.CopyFrom(
            analyzer_pb2.AnalyzerProviderResource(
                type=provider.type,
                urn=provider.urn,
                name=provider.name,
                properties=to_struct(provider.inputs),
            )
        )
    return message


def to_struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    """Properties as the engine marshals them for analyzers: unknowns as the unknown sentinel,
    assets and archives as signature objects."""
    struct = struct_pb2.Struct()
    struct.update({key: _engine_value(value) for key, value in properties.items()})
    return struct


def _engine_value(value: Any) -> Any:
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, pulumi.Asset):
        for kind in ("path", "text", "uri"):
            if hasattr(value, kind):
                return {SPECIAL_SIG_KEY: SPECIAL_ASSET_SIG, kind: str(getattr(value, kind))}
    if isinstance(value, pulumi.AssetArchive):
        assets = {name: _engine_value(item) for name, item in value.assets.items()}
        return {SPECIAL_SIG_KEY: SPECIAL_ARCHIVE_SIG, "assets": assets}
    if isinstance(value, pulumi.Archive):
        for kind in ("path", "uri"):
            if hasattr(value, kind):
                return {SPECIAL_SIG_KEY: SPECIAL_ARCHIVE_SIG, kind: str(getattr(value, kind))}
    if isinstance(value, Mapping):
        return {str(key): _engine_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_engine_value(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot marshal {type(value).__name__} for the analyzer: {value!r}")
