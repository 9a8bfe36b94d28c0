"""What the program uploads: each function's package plus its layer holds everything it imports."""

from __future__ import annotations

import ast
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.lifecycle import function_environment
from components.packaging import package_contents, zipped
from mlserve.offline import ProgramRun, stack_settings

FUNCTION = "aws:lambda/function:Function"
LAYER = "aws:lambda/layerVersion:LayerVersion"


def archive_files(function: Any) -> dict[str, str]:
    """The registered code archive (the zip Lambda receives) as text by archive path."""
    archive = function.inputs["code"]
    assert isinstance(archive, pulumi.FileArchive)
    with zipfile.ZipFile(archive.path) as package:
        return {
            name: package.read(name).decode("utf-8", errors="replace")
            for name in package.namelist()
        }


def imported_modules(files: dict[str, str]) -> set[str]:
    """Top-level names of every absolute import in the package's Python files."""
    names: set[str] = set()
    for path, source in files.items():
        if not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(source, filename=path)):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def provided_by(files: dict[str, str], layer_python: Path) -> set[str]:
    """Top-level modules the package itself and its layer's `python/` folder provide."""
    own = {path.split("/")[0].removesuffix(".py") for path in files}
    layer = {entry.name.removesuffix(".py") for entry in layer_python.iterdir()}
    return own | layer


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_given_registered_functions_when_imports_resolved_then_nothing_is_missing(
    stack: str, prod_run: ProgramRun, dev_run: ProgramRun
) -> None:
    run = prod_run if stack == "prod" else dev_run
    layers = {layer.outputs["arn"]: layer for layer in run.of_type(LAYER)}
    for function in run.of_type(FUNCTION):
        files = archive_files(function)
        (layer_arn,) = function.inputs["layers"]
        layer_python = Path(layers[layer_arn].inputs["code"].path) / "python"
        assert layer_python.is_dir()
        missing = (
            imported_modules(files)
            - set(sys.stdlib_module_names)
            - provided_by(files, layer_python)
        )
        assert not missing, f"{function.inputs['name']} imports {missing} that it does not ship"
        module = function.inputs["handler"].rsplit(".", 1)[0].replace(".", "/") + ".py"
        assert module in files


def test_given_layer_when_built_then_it_targets_lambdas_platform(prod_run: ProgramRun) -> None:
    (layer,) = prod_run.of_type(LAYER)
    assert layer.inputs["compatibleRuntimes"] == ["python3.12"]
    assert layer.inputs["compatibleArchitectures"] == ["arm64"]
    compiled = list((Path(layer.inputs["code"].path) / "python").rglob("*.so"))
    assert compiled, "pydantic-core ships a compiled extension"
    assert all("aarch64" in path.name for path in compiled), compiled


def test_given_package_when_built_then_it_holds_code_runtime_and_lifecycle_stamp(
    prod_run: ProgramRun,
) -> None:
    function = prod_run.by_name("churn-v1", FUNCTION)
    files = archive_files(function)
    assert "mlserve_runtime/__init__.py" in files
    assert not [path for path in files if "__pycache__" in path or path.endswith(".pyc")]
    stamp = json.loads(files["mlserve_lifecycle.json"])
    assert stamp == function.inputs["environment"]["variables"]


def test_given_lifecycle_change_when_packaged_then_package_content_changes() -> None:
    # A lifecycle change must publish a new Lambda version: the code hash has to change with it.
    settings = stack_settings("prod")
    deprecated = settings.services["churn"].versions["v1"]
    active = deprecated.model_copy(update={"status": "active"})
    assert deprecated.code is not None
    before = zipped(
        package_contents(
            settings.project_root, deprecated.code, function_environment(settings, active)
        )
    )
    after = zipped(
        package_contents(
            settings.project_root, deprecated.code, function_environment(settings, deprecated)
        )
    )
    assert before != after
    assert after == zipped(
        package_contents(
            settings.project_root, deprecated.code, function_environment(settings, deprecated)
        )
    )  # and only the lifecycle changed it: the same inputs zip to the same bytes
