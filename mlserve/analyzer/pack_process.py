"""The engine's side of the analyzer protocol: start the policy pack exactly as `pulumi preview
--policy-pack` does and send it what the engine would send for a recorded program run."""

from __future__ import annotations

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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from mlserve.analyzer.marshal import resources_from_run
from mlserve.analyzer.policy_config import (
    LEVEL_VALUES,
    LEVELS,
    PolicyInfo,
    reconcile_policy_config,
)
from mlserve.offline import PROJECT, ProgramRun

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
ENGINE_ADDRESS = "127.0.0.1:1"  # pulumi-policy never dials the engine back
MAX_MESSAGE = 400 * 1024 * 1024  # the size the engine and pulumi-policy allow
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
]
KINDS = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}


class PolicyPackError(RuntimeError):
    """The pack did not start or failed a call; the message ends with the pack's stderr."""


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
