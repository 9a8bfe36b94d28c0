"""The engine's side of the analyzer protocol: start the policy pack exactly as `pulumi preview
--policy-pack` does and send it what the engine would send for a recorded program run."""

from __future__ import annotations

import importlib.metadata
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
import pulumi
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.deserialize import (
    SPECIAL_ARCHIVE_SIG,
    SPECIAL_ASSET_SIG,
    SPECIAL_SIG_KEY,
)

from mlserve.offline import PROJECT, ProgramRun, Registration

PACK_DIR = Path(__file__).resolve().parent.parent / "policies"
ENGINE_ADDRESS = "127.0.0.1:1"  # pulumi-policy never dials the engine back
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # how the engine marshals a computed value
STACK_TYPE = "pulumi:pulumi:Stack"
MAX_MESSAGE = 400 * 1024 * 1024  # the size the engine and pulumi-policy allow
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
]
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}
KINDS = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}


class PolicyPackError(RuntimeError):
    """The pack did not start or failed a call; the message ends with the pack's stderr."""


class PolicyConfigError(ValueError):
    """A policy pack config the engine would reject before running any policy."""


@dataclass(frozen=True)
class Violation:
    """One diagnostic the pack returned, as the engine would print it."""

    policy_name: str
    enforcement_level: str
    message: str
    urn: str

    @property
    def mandatory(self) -> bool:
        """Whether the engine fails the preview for it."""
        return self.enforcement_level in ("mandatory", "remediate")


@dataclass(frozen=True)
class PolicyInfo:
    """A policy as GetAnalyzerInfo describes it."""

    name: str
    description: str
    enforcement_level: str
    kind: str
    remediation_steps: str
    config_schema: dict[str, Any] = field(default_factory=dict)
    required_config: tuple[str, ...] = ()


@dataclass
class RunningPack:
    """A started policy pack and an analyzer client connected to it."""

    process: subprocess.Popen[bytes]
    stub: analyzer_pb2_grpc.AnalyzerStub
    stack: str
    config: dict[str, str]
    policies: list[PolicyInfo]
    initial_config: dict[str, dict[str, Any]]
    stderr_file: IO[bytes]

    def stderr(self) -> str:
        """What the pack wrote to stderr so far."""
        self.stderr_file.flush()
        return Path(self.stderr_file.name).read_text(errors="replace")

    def call(self, method: str, request: Any) -> Any:
        """One RPC; a failure raises PolicyPackError with the pack's stderr."""
        try:
            return getattr(self.stub, method)(request, timeout=300)
        except grpc.RpcError as error:
            raise PolicyPackError(
                f"{method} failed: {error.code()} {error.details()}\n--- pack stderr ---\n"
                f"{self.stderr()}"
            ) from None

    def configure(self, policy_config: Mapping[str, Any] | None = None) -> None:
        """Send the `--policy-pack-config` file content, reconciled and validated like the
        engine does: every policy gets its enforcement level and its properties."""
        reconciled = reconcile_policy_config(self.policies, self.initial_config, policy_config)
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, properties) in reconciled.items():
            entry = analyzer_pb2.PolicyConfig(enforcementLevel=LEVEL_VALUES[level])
            if properties:
                entry.properties.update(properties)
            request.policyConfig[name].CopyFrom(entry)
        self.call("Configure", request)

    def analyze(self, resource: analyzer_pb2.AnalyzerResource) -> list[Violation]:
        """Analyze one resource (its checked inputs), as the engine does before each step."""
        request = analyzer_pb2.AnalyzeRequest(
            type=resource.type,
            properties=resource.properties,
            urn=resource.urn,
            name=resource.name,
            options=resource.options,
        )
        if resource.HasField("provider"):
            request.provider.CopyFrom(resource.provider)
        response = self.call("Analyze", request)
        # The engine reports every Analyze diagnostic against the analyzed resource.
        return [_violation(diagnostic, resource.urn) for diagnostic in response.diagnostics]

    def analyze_stack(self, resources: Sequence[analyzer_pb2.AnalyzerResource]) -> list[Violation]:
        """Analyze the whole new state once, as the engine does at the end of a preview or up."""
        response = self.call("AnalyzeStack", analyzer_pb2.AnalyzeStackRequest(resources=resources))
        return [_violation(diagnostic, diagnostic.urn) for diagnostic in response.diagnostics]


def _violation(diagnostic: Any, urn: str) -> Violation:
    return Violation(
        policy_name=diagnostic.policyName,
        enforcement_level=LEVELS.get(diagnostic.enforcementLevel, "unknown"),
        message=diagnostic.message,
        urn=urn,
    )


@contextmanager
def running_pack(
    config: Mapping[str, str],
    *,
    stack: str,
    project: str = PROJECT,
    organization: str = "organization",
    dry_run: bool = True,
    pack_dir: Path = PACK_DIR,
    extra_env: Mapping[str, str] | None = None,
    python: str = sys.executable,
    start_timeout: float = 60.0,
) -> Iterator[RunningPack]:
    """Start the pack in its folder with `python -u -m pulumi.policy <engine> .` and the engine's
    environment, then Handshake, ConfigureStack and GetAnalyzerInfo; stop it on exit. `python`
    may be the pack's own virtualenv (policies/.venv, as the CLI uses)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PULUMI_") and key != "MLSERVE_TODAY"
    }
    environment.update(
        {
            "PULUMI_CONFIG": json.dumps(dict(config)),
            "PULUMI_PROJECT": project,
            "PULUMI_STACK": stack,
            "PULUMI_ORGANIZATION": organization,
            "PULUMI_DRY_RUN": "true" if dry_run else "false",
            **(extra_env or {}),
        }
    )
    with tempfile.NamedTemporaryFile(prefix="policy-pack-", suffix=".stderr") as stderr_file:
        process = subprocess.Popen(
            [python, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."],
            cwd=pack_dir,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
        )
        channel: grpc.Channel | None = None
        try:
            port = _read_port(process, stderr_file, start_timeout)
            channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
            grpc.channel_ready_future(channel).result(timeout=start_timeout)
            pack = RunningPack(
                process=process,
                stub=analyzer_pb2_grpc.AnalyzerStub(channel),
                stack=stack,
                config=dict(config),
                policies=[],
                initial_config={},
                stderr_file=stderr_file,
            )
            _start_session(pack, project, organization, dry_run, pack_dir)
            yield pack
        finally:
            if channel is not None:
                channel.close()
            _stop(process)


def _read_port(process: subprocess.Popen[bytes], stderr_file: IO[bytes], timeout: float) -> int:
    """The port from the pack's first stdout line; the rest of stdout is drained in the
    background so a chatty pack never blocks on a full pipe."""
    assert process.stdout is not None
    lines: queue.Queue[bytes] = queue.Queue()

    def drain(stream: IO[bytes]) -> None:
        with stream:  # closed here, at the end of the pack's output, never under the reader
            for line in stream:
                lines.put(line)
        lines.put(b"")

    threading.Thread(target=drain, args=(process.stdout,), daemon=True).start()
    try:
        first = lines.get(timeout=timeout)
    except queue.Empty:
        first = b""
    if not re.fullmatch(rb"\d+\s*", first):
        _stop(process)
        stderr_file.flush()
        stderr = Path(stderr_file.name).read_text(errors="replace")
        raise PolicyPackError(
            f"the policy pack did not print its port (first stdout line {first!r}, exit code "
            f"{process.returncode})\n--- pack stderr ---\n{stderr}"
        )
    return int(first)


def _start_session(
    pack: RunningPack, project: str, organization: str, dry_run: bool, pack_dir: Path
) -> None:
    """Handshake (pulumi-policy answers UNIMPLEMENTED), ConfigureStack, GetAnalyzerInfo."""
    for method, request in (
        (
            "Handshake",
            analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address=ENGINE_ADDRESS,
                root_directory=str(pack_dir),
                program_directory=str(pack_dir),
            ),
        ),
        (
            "ConfigureStack",
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=pack.stack,
                project=project,
                organization=organization,
                dry_run=dry_run,
                config=pack.config,
            ),
        ),
    ):
        try:
            getattr(pack.stub, method)(request, timeout=60)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise PolicyPackError(
                    f"{method} failed: {error.code()} {error.details()}\n{pack.stderr()}"
                ) from None
    info = pack.call("GetAnalyzerInfo", empty_pb2.Empty())
    pack.policies = [
        PolicyInfo(
            name=policy.name,
            description=policy.description,
            enforcement_level=LEVELS[policy.enforcementLevel],
            kind=KINDS.get(policy.policy_type, "unknown"),
            remediation_steps=policy.remediation_steps,
            config_schema=json_format.MessageToDict(policy.configSchema.properties),
            required_config=tuple(policy.configSchema.required),
        )
        for policy in info.policies
    ]
    pack.initial_config = {
        name: {
            **(
                {"enforcementLevel": LEVELS[entry.enforcementLevel]}
                if entry.enforcementLevel
                else {}
            ),
            **json_format.MessageToDict(entry.properties),
        }
        for name, entry in info.initialConfig.items()
    }


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reconcile_policy_config(
    policies: Sequence[PolicyInfo],
    initial_config: Mapping[str, Mapping[str, Any]],
    policy_config: Mapping[str, Any] | None,
) -> dict[str, tuple[str, dict[str, Any]]]:
    """(enforcement level, properties) per policy, as the engine's ReconcilePolicyPackConfig
    makes them from the policies' defaults, the pack's initial config and the config file; raises
    PolicyConfigError where the engine would refuse to run (and for unknown policy names, which
    the engine ignores silently, because a typo there would silently switch a check off)."""
    known = {policy.name for policy in policies}
    result: dict[str, tuple[str, dict[str, Any]]] = {
        policy.name: (
            policy.enforcement_level,
            {
                key: schema["default"]
                for key, schema in policy.config_schema.items()
                if isinstance(schema, Mapping) and "default" in schema
            },
        )
        for policy in policies
    }
    for given in (_parse_policy_config(initial_config), _parse_policy_config(policy_config or {})):
        if "all" in given and given["all"][0]:
            result = {name: (str(given["all"][0]), props) for name, (_, props) in result.items()}
        for name, (level, properties) in given.items():
            if name == "all":
                continue
            if name not in known:
                raise PolicyConfigError(
                    f"policy pack config names {name!r}, which is not a policy of the pack "
                    f"(policies: {', '.join(sorted(known))})"
                )
            current_level, current_props = result[name]
            result[name] = (level or current_level, {**current_props, **properties})
    errors = [
        f"{policy.name}: {problem}"
        for policy in policies
        for problem in validate_json_schema(
            result[policy.name][1],
            {
                "type": "object",
                "properties": policy.config_schema,
                "required": list(policy.required_config),
            },
        )
    ]
    if errors:
        raise PolicyConfigError("policy pack config is invalid:\n  " + "\n  ".join(errors))
    return result


def _parse_policy_config(config: Mapping[str, Any]) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """The engine's parsePolicyPackConfig: a level string, or an object whose `enforcementLevel`
    is split off from the properties."""
    parsed: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, value in config.items():
        if isinstance(value, str):
            level: Any = value
            properties: dict[str, Any] = {}
        elif isinstance(value, Mapping):
            properties = dict(value)
            level = properties.pop("enforcementLevel", None)
        else:
            raise PolicyConfigError(f"{name!r}: {value!r} is not a valid value; a string or object")
        if level is not None and level not in LEVEL_VALUES:
            raise PolicyConfigError(f"{name!r}: {level!r} is not a valid enforcement level")
        if level is not None or properties:
            parsed[name] = (level, properties)
    return parsed


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (Mapping,),
    "array": (list, tuple),
    "string": (str,),
    "boolean": (bool,),
    "number": (int, float),
    "integer": (int,),
    "null": (type(None),),
}


def validate_json_schema(value: Any, schema: Mapping[str, Any], where: str = "(root)") -> list[str]:
    """Problems of `value` against the JSON Schema keywords policy configs use (type, enum,
    pattern, properties, required, additionalProperties, propertyNames, items, minimum,
    maximum); the engine runs a full validator, this covers what the pack declares."""
    problems: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        fits = any(
            isinstance(value, _JSON_TYPES[name])
            and not (name in ("number", "integer") and isinstance(value, bool))
            for name in kinds
        )
        if not fits:
            return [f"{where}: invalid type, expected {' or '.join(kinds)}, got {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: must be one of {schema['enum']}, got {value!r}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        problems.append(f"{where}: does not match pattern {schema['pattern']!r}: {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: must be >= {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: must be <= {schema['maximum']}")
    if isinstance(value, Mapping):
        properties = schema.get("properties") or {}
        problems += [
            f"{where}: {name} is required"
            for name in schema.get("required", [])
            if name not in value
        ]
        additional = schema.get("additionalProperties", True)
        for name, item in value.items():
            at = f"{where}.{name}" if where != "(root)" else str(name)
            if "propertyNames" in schema:
                problems += validate_json_schema(name, schema["propertyNames"], f"{at} (name)")
            if name in properties:
                problems += validate_json_schema(item, properties[name], at)
            elif additional is False:
                problems.append(f"{at}: additional property is not allowed")
            elif isinstance(additional, Mapping):
                problems += validate_json_schema(item, additional, at)
    if isinstance(value, list | tuple) and isinstance(schema.get("items"), Mapping):
        for position, item in enumerate(value):
            problems += validate_json_schema(item, schema["items"], f"{where}.{position}")
    return problems


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


def analyze_run(
    run: ProgramRun,
    *,
    policy_config: Mapping[str, Any] | None = None,
    pack: RunningPack | None = None,
) -> list[Violation]:
    """Every diagnostic the pack gives for a program run: Analyze per resource (inputs), then
    AnalyzeStack (outputs). Starts a pack for the run's stack config unless one is given."""
    if run.error is not None:
        raise ValueError(
            f"the program failed, so the engine would stop before AnalyzeStack:\n{run.error}"
        )
    if pack is None:
        with running_pack(run.config, stack=run.stack, dry_run=run.preview) as started:
            return analyze_run(run, policy_config=policy_config, pack=started)
    if pack.config != run.config or pack.stack != run.stack:
        raise ValueError(
            f"the pack was started for stack {pack.stack!r} with another config than the run's "
            f"({run.stack!r}); the engine starts the pack with the stack's config"
        )
    pack.configure(policy_config)
    violations = [
        violation
        for resource in resources_from_run(run, inputs=True)
        for violation in pack.analyze(resource)
    ]
    return violations + pack.analyze_stack(resources_from_run(run))
