"""A scratch copy of the project's data (stack files, service code, contract locks) to edit as a
platform team would, and to run the tooling on with `--root`."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "data")


def scratch_project(target: Path) -> Path:
    """A copy of the stack files, services/ and contracts/ under `target`."""
    for stack_file in PROJECT_ROOT.glob("Pulumi.*.yaml"):
        shutil.copy2(stack_file, target / stack_file.name)
    shutil.copytree(PROJECT_ROOT / "services", target / "services", ignore=IGNORED)
    shutil.copytree(PROJECT_ROOT / "contracts", target / "contracts")
    return target


def edit_stack(root: Path, stack: str, edit: Callable[[Any], None]) -> None:
    """Change a stack file's `mlserve:services` in place, keeping its comments and order."""
    yaml = YAML()
    path = root / f"Pulumi.{stack}.yaml"
    document = yaml.load(path.read_text())
    edit(document["config"]["mlserve:services"])
    with path.open("w") as stream:
        yaml.dump(document, stream)


def copy_version(root: Path, service: str, source: str, target: str, *, rename: bool) -> Path:
    """services/<service>/<target> as a copy of <source>; with `rename`, its SURFACE (and every
    other mention of the source version in its code) says `target`."""
    folder = root / "services" / service / target
    shutil.copytree(root / "services" / service / source, folder, ignore=IGNORED)
    if rename:
        for path in folder.glob("*.py"):
            path.write_text(re.sub(rf'"{source}"', f'"{target}"', path.read_text()))
    return folder


def repo_copy(tmp_path: Path) -> Path:
    """A copy of the repository's files (committed or not), without build output or the venv."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if source.is_file():
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return tmp_path


def mlserve(repo: Path, *args: str, today: date | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m mlserve ...` in the scratch copy, importing its own client and runtime, with
    the clock at `today` if given."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(repo / "client"), str(repo / "services" / "runtime")]),
        **({"MLSERVE_TODAY": today.isoformat()} if today else {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "mlserve", *args], cwd=repo, env=environment,
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def tree(repo: Path) -> dict[str, str]:
    """Every file's digest, to tell whether a command wrote anything."""
    return {
        path.relative_to(repo).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in repo.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and "build" not in path.parts
    }
