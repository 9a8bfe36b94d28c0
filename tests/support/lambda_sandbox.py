"""Run a handler the way Lambda runs it: from the zip the program registers, extracted as root
with the modes stored in the zip, beside its layer as `/opt/python`, as an unprivileged user.

What is not Lambda here: the interpreter is this machine's CPython (Lambda's runtime may be a
newer minor), and the layer is the same lock installed for this machine's platform, because the
layer built for Lambda holds compiled code for its CPU (aarch64 by default), which cannot load
here. The code package itself is exactly the registered bytes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.packaging import layer_lock

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534  # Lambda's sandbox user is not root either (sbx_user1051)
# The AWS SDK for Python that Lambda's Python runtimes include, after the layer on sys.path; the
# sandbox copies this machine's (the pinned boto3) in its place.
RUNTIME_SDK = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "urllib3", "six")
BOOTSTRAP = """
import importlib, json, os, sys
task, opt, handler_name, *runtime = sys.argv[1:]
sys.path[:0] = [task, opt, *runtime]
protocol = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # what the handler prints goes to the log (stderr), never into the protocol
module_name, _, function_name = handler_name.rpartition(".")
handler = getattr(importlib.import_module(module_name), function_name)


class Context:
    aws_request_id = "sandbox-request"
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "sandbox")
    def get_remaining_time_in_millis(self):
        return 3000


for line in sys.stdin:
    protocol.write(json.dumps(handler(json.loads(line), Context())) + "\\n")
    protocol.flush()
"""


def unprivileged() -> bool:
    """Whether handlers run as another user than the one that extracted them (needs root)."""
    return os.geteuid() == 0


def unreadable_entries(package: Path) -> list[str]:
    """Entries whose stored mode would keep Lambda's user out: files must be readable by others,
    folders readable and searchable by others."""
    problems = []
    with zipfile.ZipFile(package) as archive:
        for entry in archive.infolist():
            mode = entry.external_attr >> 16
            needed = 0o005 if entry.is_dir() else 0o004
            if entry.create_system != 3 or mode & needed != needed:
                problems.append(f"{entry.filename} (mode {stat.filemode(mode)})")
    return problems


def extract_like_lambda(package: Path, target: Path) -> None:
    """Unzip as Lambda does: every entry with the Unix mode stored in the zip, owned by the
    extracting user (root here, as in Lambda); folders the zip does not list get 0755."""
    with zipfile.ZipFile(package) as archive:
        for entry in archive.infolist():
            path = target / entry.filename
            if entry.is_dir():
                path.mkdir(mode=0o755, parents=True, exist_ok=True)
            else:
                path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                path.write_bytes(archive.read(entry))
            mode = entry.external_attr >> 16
            os.chmod(path, stat.S_IMODE(mode) if entry.create_system == 3 and mode else 0o600)


def interpreter() -> str:
    """A CPython of this minor version that an unprivileged user can run (the virtualenv's may
    live under a home folder only root can enter)."""
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        os.path.realpath(sys.executable),
        f"/usr/bin/python{minor}",
        f"/usr/local/bin/python{minor}",
    ]
    for candidate in candidates:
        if Path(candidate).is_file() and _runs_as_sandbox_user(candidate):
            return candidate
    raise RuntimeError(
        f"no python{minor} that user {NOBODY} can run: tried {', '.join(candidates)}; install "
        f"python{minor} outside root's home (Debian: apt-get install python{minor})"
    )


def _runs_as_sandbox_user(python: str) -> bool:
    if not unprivileged():
        return True
    try:
        result = subprocess.run(
            [python, "-I", "-S", "-c", "pass"], user=NOBODY, group=NOBODY, extra_groups=[],
            capture_output=True, check=False,
        )  # fmt: skip
    except PermissionError:  # the interpreter or a folder above it is closed to that user
        return False
    return result.returncode == 0


def host_layer(runtime: str, architecture: str) -> Path:
    """The layer's lock installed for this machine (cached under build/), as `python/`."""
    lock = layer_lock(PROJECT_ROOT, runtime, architecture)
    python = interpreter()
    digest = hashlib.sha256(lock.read_bytes() + python.encode()).hexdigest()[:12]
    target = PROJECT_ROOT / "build" / "host-layers" / f"{runtime}-{architecture}-{digest}"
    if (target / "python").is_dir():
        return target
    staging = target.with_name(f"{target.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    version = subprocess.run(
        [python, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--require-hashes", "--only-binary=:all:", "--python-version", version,
            "--target", str(staging / "python"), "--requirement", str(lock),
        ],
        check=True,
    )  # fmt: skip
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@dataclass
class Sandbox:
    """An extracted package and layer, ready to invoke."""

    task: Path
    opt: Path
    handler: str
    environment: dict[str, str]
    runtime: Path | None = None
    """The runtime's own packages (the AWS SDK), when the sandbox provides them."""
    log: str = ""
    """What the last invoke's handler printed (its CloudWatch log stream in Lambda)."""

    def invoke(self, events: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Each event through the handler in one execution environment, as the unprivileged
        user; the responses in order. A handler that fails to load or raises fails the call."""
        bootstrap = self.task.parent / "bootstrap.py"
        as_sandbox_user = unprivileged()
        result = subprocess.run(
            [interpreter(), "-I", "-S", str(bootstrap), str(self.task), str(self.opt / "python"),
             self.handler, *([str(self.runtime)] if self.runtime else [])],
            input="".join(json.dumps(event) + "\n" for event in events),
            cwd=self.task, env=self.environment, capture_output=True, text=True, timeout=120,
            check=False, user=NOBODY if as_sandbox_user else None,
            group=NOBODY if as_sandbox_user else None, extra_groups=[] if as_sandbox_user else None,
        )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"the handler failed in the sandbox:\n{result.stderr[-4000:]}")
        self.log = result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]


@contextmanager
def lambda_sandbox(
    package: Path, layer: Path, handler: str, environment: Mapping[str, str], sdk: bool = False
) -> Iterator[Sandbox]:
    """A scratch root with `var/task` (the package) and `opt/python` (the layer), world-readable
    down to those folders as in Lambda, removed afterwards; with `sdk`, also `var/runtime` with
    the AWS SDK the runtime provides."""
    root = Path(tempfile.mkdtemp(prefix="lambda-sandbox-"))
    try:
        root.chmod(0o755)  # mkdtemp makes 0700; /var and /opt are open to every user
        task = root / "var" / "task"
        task.parent.mkdir(mode=0o755)
        task.mkdir(mode=0o755)
        extract_like_lambda(package, task)
        opt = root / "opt"
        shutil.copytree(layer, opt)  # pip writes 0644 files and 0755 folders, like a layer zip
        bootstrap = root / "var" / "bootstrap.py"
        bootstrap.write_text(BOOTSTRAP)
        bootstrap.chmod(0o644)
        runtime = _runtime_sdk(root / "var" / "runtime") if sdk else None
        yield Sandbox(
            task=task,
            opt=opt,
            handler=handler,
            runtime=runtime,
            environment={
                **environment,
                "LAMBDA_TASK_ROOT": str(task),
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "TZ": ":UTC",
            },
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _runtime_sdk(target: Path) -> Path:
    """This machine's boto3 and what it needs, copied world-readable into `target`."""
    target.mkdir(mode=0o755)
    for name in RUNTIME_SDK:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, f"{name} is not installed"
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, target / name, ignore=shutil.ignore_patterns("*.pyc"))
        else:
            shutil.copy(origin, target / origin.name)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def emf_lines(log: str) -> list[dict[str, Any]]:
    """The EMF metric lines of a log, read as CloudWatch reads them: the `_aws` metadata names
    the namespace, the metric and the dimension set, whose values are top-level members."""
    found = []
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or "_aws" not in entry:
            continue
        (directive,) = entry["_aws"]["CloudWatchMetrics"]
        (dimension_set,) = directive["Dimensions"]
        (metric,) = directive["Metrics"]
        value = entry[metric["Name"]]  # EMF takes a number or a list of them
        found.append(
            {
                "namespace": directive["Namespace"],
                "metric": metric["Name"],
                "unit": metric["Unit"],
                "values": value if isinstance(value, list) else [value],
                "dimensions": {name: entry[name] for name in dimension_set},
            }
        )
    return found
