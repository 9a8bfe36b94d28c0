"""A scratch copy of the project's data (stack files, service code, contract locks) to edit as a
platform team would, and to run the tooling on with `--root`."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
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
