"""What Lambda code may import, what the layer pins, and how open each contract is."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from mlserve.stack_files import stack_files, stack_settings
from tests.support.events import SERVICES

RUNTIME = SERVICES / "runtime" / "mlserve_runtime"
VERSION_FOLDERS = sorted(path.parent for path in SERVICES.glob("*/v*/app.py"))
LAYER = {"aws-lambda-powertools", "fastjsonschema", "pydantic"}
# The lifecycle wrapper must stay cheap to import and call: the stdlib only.
STDLIB_ONLY = ("clock.py", "problem.py", "lifecycle.py", "artifacts.py")
# What every Lambda Python runtime includes ("The Python runtimes include the AWS SDK for Python
# (Boto3)"): only the runtime's result sender may use it, imported when a batch first sends.
RUNTIME_SDK = {"batch.py": {"boto3", "botocore"}}
MAX_VERSION_FOLDER_BYTES = 100_000


def imports(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a Python file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def contract(folder: Path) -> ModuleType:
    """A version's contract module, loaded under a unique name."""
    name = f"contract_{folder.parent.name}_{folder.name}"
    spec = importlib.util.spec_from_file_location(name, folder / "contract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves postponed annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def models_in(model: type[BaseModel]) -> list[type[BaseModel]]:
    """The model and every model nested in its fields."""
    found = [model]
    for field in model.model_fields.values():
        for candidate in _types_in(field.annotation):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found += models_in(candidate)
    return found


def _types_in(annotation: Any) -> list[Any]:
    return [annotation, *(t for arg in getattr(annotation, "__args__", ()) for t in _types_in(arg))]


def test_given_version_folders_when_listed_then_every_deployed_version_has_one() -> None:
    deployed = {
        version.code.resolve()
        for stack in stack_files()
        for version in stack_settings(stack).deployed_versions()
        if version.code is not None
    }
    assert deployed and deployed <= {folder.resolve() for folder in VERSION_FOLDERS}


@pytest.mark.parametrize(
    "path",
    [*sorted(RUNTIME.glob("*.py")), *(p for f in VERSION_FOLDERS for p in sorted(f.glob("*.py")))],
    ids=lambda p: p.relative_to(SERVICES).as_posix(),
)
def test_given_lambda_code_when_its_imports_are_read_then_only_stdlib_layer_and_own_code(
    path: Path,
) -> None:
    # GIVEN a module shipped in a function's zip, WHEN its imports are read
    own = {p.stem for p in path.parent.glob("*.py")} | {"mlserve_runtime"}
    layer = {name.replace("-", "_") for name in LAYER}
    allowed = set(sys.stdlib_module_names) | layer | own
    if path.parent == RUNTIME:
        allowed |= RUNTIME_SDK.get(path.name, set())
    if path.parent == RUNTIME and path.name in STDLIB_ONLY:
        allowed = set(sys.stdlib_module_names) | {"mlserve_runtime"}
    # THEN it needs nothing the zip and the layer do not provide (no pulumi, no numpy)
    assert imports(path) <= allowed, imports(path) - allowed


def top_level_pins() -> dict[str, str]:
    """services/requirements.in as name -> version (comments left out)."""
    lines = (SERVICES / "requirements.in").read_text().splitlines()
    return dict(
        line.split("#")[0].strip().split("==") for line in lines if line.split("#")[0].strip()
    )


def test_given_layer_requirements_when_read_then_they_pin_what_the_tests_ran_against() -> None:
    # GIVEN services/requirements.in, the source of the dependency layer's locks
    pins = top_level_pins()
    # THEN it pins exactly the layer's distributions, at the versions installed here
    assert set(pins) == LAYER
    for name, version in pins.items():
        assert importlib.metadata.version(name) == version


@pytest.mark.parametrize("lock", sorted((SERVICES / "locks").glob("*.txt")), ids=lambda p: p.stem)
def test_given_layer_lock_when_read_then_every_distribution_is_pinned_with_hashes(
    lock: Path,
) -> None:
    # GIVEN one (runtime, architecture) lock of the layer
    requirements = [
        line for line in lock.read_text().splitlines() if line and not line.startswith((" ", "#"))
    ]
    top_level = top_level_pins()
    pinned = {}
    for line in requirements:
        name, _, rest = line.partition("==")
        pinned[name] = rest.split()[0]
        # THEN every distribution is an exact pin followed by its hashes (--require-hashes)
        assert rest.rstrip(" \\") and line.endswith("\\"), line
    assert {name: pinned[name] for name in top_level} == top_level
    assert lock.read_text().count("--hash=sha256:") >= len(requirements)


@pytest.mark.parametrize("folder", VERSION_FOLDERS, ids=lambda f: f"{f.parent.name}-{f.name}")
def test_given_a_version_folder_when_measured_then_it_is_small(folder: Path) -> None:
    # GIVEN a version's folder (the function's own code and weights), THEN it stays light
    size = sum(p.stat().st_size for p in folder.rglob("*") if "__pycache__" not in p.parts)
    assert size < MAX_VERSION_FOLDER_BYTES


@pytest.mark.parametrize("folder", VERSION_FOLDERS, ids=lambda f: f"{f.parent.name}-{f.name}")
def test_given_a_contract_when_inspected_then_requests_are_closed_and_responses_open(
    folder: Path,
) -> None:
    # GIVEN a version's contract
    module = contract(folder)
    # THEN every request model forbids unknown fields and every response model allows them
    for model in models_in(module.PredictRequest):
        assert model.model_config.get("extra") == "forbid", model.__name__
    for model in models_in(module.PredictResponse):
        assert model.model_config.get("extra") == "allow", model.__name__
