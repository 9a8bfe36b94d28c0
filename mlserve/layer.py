"""The dependency layer's lock files, one per Lambda runtime and architecture.

`python -m mlserve layer lock` resolves `services/requirements.in` for Lambda's platform (not for
this machine) with uv and writes `services/locks/<runtime>-<architecture>.txt`: every
distribution pinned, with the sha256 of each of its files, so the program installs it with
`--require-hashes` and a fresh build cannot pick up a new transitive release. `--check` (offline)
fails when a lock is missing or was made from other requirements than the current ones.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from components.bytecode import BYTECODE_RELEASES, DEBIAN_ARCHIVE, fetch_interpreter
from components.packaging import (
    ARCHITECTURES,
    LAYER_REQUIREMENTS,
    LOCK_COMMAND,
    layer_lock,
)
from components.settings import RUNTIMES
from mlserve.offline import PROJECT_ROOT

# uv's names for Lambda's platforms (manylinux2014 is what Lambda's Amazon Linux 2023 satisfies)
UV_PLATFORMS = {"arm64": "aarch64-manylinux2014", "x86_64": "x86_64-manylinux2014"}
DIGEST_LINE = re.compile(r"^# requirements sha256: ([0-9a-f]{64})$", re.MULTILINE)


def requirements_digest(project_root: Path) -> str:
    """The sha256 of the layer's top-level requirements, which every lock records."""
    return hashlib.sha256((project_root / LAYER_REQUIREMENTS).read_bytes()).hexdigest()


def resolve(project_root: Path, runtime: str, architecture: str) -> str:
    """The lock text for one runtime and architecture, resolved by uv (needs the index)."""
    from uv import find_uv_bin  # tooling only: the program never resolves, it installs locks

    command = [
        find_uv_bin(), "pip", "compile", str(LAYER_REQUIREMENTS), "--quiet", "--no-header",
        "--generate-hashes", "--python-platform", UV_PLATFORMS[architecture],
        "--python-version", runtime.removeprefix("python"), "--no-python-downloads",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=project_root, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"uv could not resolve {runtime}/{architecture}:\n{result.stderr}")
    header = (
        f"# The dependency layer for {runtime} on {architecture} ({UV_PLATFORMS[architecture]}),\n"
        f"# every distribution pinned with the hashes of its files. Written by `{LOCK_COMMAND}`\n"
        f"# from {LAYER_REQUIREMENTS.as_posix()}; do not edit by hand.\n"
        f"# requirements sha256: {requirements_digest(project_root)}\n"
    )
    return header + result.stdout


def stale_locks(project_root: Path) -> list[str]:
    """One line per lock that is missing or was not made from the current requirements."""
    digest = requirements_digest(project_root)
    problems = []
    for runtime in RUNTIMES:
        for architecture in ARCHITECTURES:
            lock = layer_lock(project_root, runtime, architecture)
            shown = lock.relative_to(project_root).as_posix()
            if not lock.is_file():
                problems.append(f"{shown} is missing")
                continue
            recorded = DIGEST_LINE.search(lock.read_text())
            if recorded is None or recorded.group(1) != digest:
                problems.append(f"{shown} was not made from the current {LAYER_REQUIREMENTS}")
    return problems


def fetch_interpreters(project_root: Path) -> int:
    """Unpack every bytecode runtime's compiler from Debian's archive (see components.bytecode)."""
    for runtime in BYTECODE_RELEASES:
        try:
            root = fetch_interpreter(project_root, runtime)
        except (OSError, subprocess.CalledProcessError) as error:
            detail = getattr(error, "stderr", b"") or b""
            print(
                f"could not fetch {runtime}'s compiler from Debian's {BYTECODE_RELEASES[runtime]}"
                f" ({error}){': ' + detail.decode().strip() if detail else ''}; it needs apt-get "
                f"and {DEBIAN_ARCHIVE}",
                file=sys.stderr,
            )
            return 1
        print(f"{runtime}: {root.relative_to(project_root).as_posix()}")
    return 0


def main(argv: Sequence[str]) -> int:
    """`layer lock [--check]`: write every lock, or check them without the network."""
    parser = argparse.ArgumentParser(prog="mlserve layer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    lock = commands.add_parser("lock", help="write services/locks/<runtime>-<arch>.txt")
    lock.add_argument("--check", action="store_true", help="fail if a lock is missing or stale")
    commands.add_parser(
        "interpreters", help="fetch the CPython that compiles each bytecode runtime's .pyc"
    )
    args = parser.parse_args(argv)
    if args.command == "interpreters":
        return fetch_interpreters(PROJECT_ROOT)
    if args.check:
        problems = stale_locks(PROJECT_ROOT)
        for problem in problems:
            print(f"{problem}; run `{LOCK_COMMAND}` and commit the result", file=sys.stderr)
        return 1 if problems else 0
    for runtime in RUNTIMES:
        for architecture in ARCHITECTURES:
            target = layer_lock(PROJECT_ROOT, runtime, architecture)
            try:
                text = resolve(PROJECT_ROOT, runtime, architecture)
            except RuntimeError as error:
                print(error, file=sys.stderr)
                return 1
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {target.relative_to(PROJECT_ROOT).as_posix()}")
    return 0
