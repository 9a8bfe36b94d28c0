"""Bytecode in what the program uploads: each module's `.pyc` for exactly the function's runtime,
hash-based and unchecked, the same bytes on every build, and used by that runtime's Python when
it runs from a read-only /var/task and /opt/python as Lambda's unprivileged user."""

from __future__ import annotations

import ast
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pulumi
import pytest

from components.bytecode import (
    BYTECODE_RELEASES,
    has_bytecode,
    interpreter_command,
    interpreter_root,
)
from components.packaging import built_package, package_files
from mlserve.offline import PROJECT_ROOT, ProgramRun
from mlserve.stack_files import stack_files, stack_settings
from tests.support.lambda_sandbox import NOBODY, extract_like_lambda, unprivileged

FUNCTION = "aws:lambda/function:Function"
LAYER = "aws:lambda/layerVersion:LayerVersion"
# CPython's magic numbers (Lib/importlib/_bootstrap_external.py: "Python 3.11 3495", "Python
# 3.13 3571"), stored little-endian and followed by b"\r\n"
MAGIC = {"python3.11": 3495, "python3.13": 3571}
RUNTIME_INIT = PROJECT_ROOT / "services" / "runtime" / "mlserve_runtime" / "__init__.py"
UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, check_source clear


def cache_name(source: str, runtime: str) -> str:
    """Where CPython looks for a module's bytecode for a runtime (PEP 3147)."""
    folder, _, file = source.rpartition("/")
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    return f"{folder + '/' if folder else ''}__pycache__/{file.removesuffix('.py')}.{tag}.pyc"


def bytecode_problems(files: dict[str, bytes], runtime: str) -> list[str]:
    """What is wrong with a tree's bytecode for `runtime`: a module without its `.pyc`, a `.pyc`
    of another Python or without a source, or one whose header the runtime would not trust."""
    sources = {name for name in files if name.endswith(".py")}
    expected = {cache_name(name, runtime) for name in sources} if has_bytecode(runtime) else set()
    present = {name for name in files if name.endswith(".pyc")}
    problems = [f"{name} is missing" for name in sorted(expected - present)]
    problems += [f"{name} is not for {runtime}'s sources" for name in sorted(present - expected)]
    for name in sorted(expected & present):
        header = files[name][:8]
        magic, flags = int.from_bytes(header[:2], "little"), int.from_bytes(header[4:8], "little")
        if header[2:4] != b"\r\n" or magic != MAGIC[runtime] or flags != UNCHECKED_HASH:
            problems.append(f"{name}: magic {magic}, flags {flags:#b}")
    return problems


def registered_packages(runs: dict[str, ProgramRun]) -> list[tuple[str, Path]]:
    """(runtime, zip) of every function every stack registers from a zip."""
    return [
        (function.inputs["runtime"], Path(function.inputs["code"].path))
        for run in runs.values()
        for function in run.of_type(FUNCTION)
        if isinstance(function.inputs.get("code"), pulumi.FileArchive)
    ]


@pytest.fixture(scope="module")
def runs(prod_run: ProgramRun, dev_run: ProgramRun) -> dict[str, ProgramRun]:
    return {"prod": prod_run, "dev": dev_run}


def test_given_every_registered_package_when_read_then_its_bytecode_is_its_runtimes(
    runs: dict[str, ProgramRun],
) -> None:
    packages = registered_packages(runs)
    assert {runtime for runtime, _ in packages} & set(BYTECODE_RELEASES), "no runtime compiled"
    for runtime, package in packages:
        with zipfile.ZipFile(package) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
        assert not bytecode_problems(files, runtime), (package, bytecode_problems(files, runtime))


def test_given_every_registered_layer_when_read_then_its_bytecode_is_its_runtimes(
    runs: dict[str, ProgramRun],
) -> None:
    layers = [layer for run in runs.values() for layer in run.of_type(LAYER)]
    assert layers
    for layer in layers:
        (runtime,) = layer.inputs["compatibleRuntimes"]
        tree = Path(layer.inputs["code"].path)
        files = {
            p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()
        }
        assert not bytecode_problems(files, runtime), (tree, bytecode_problems(files, runtime)[:5])


def test_given_the_same_sources_when_built_twice_then_the_package_is_the_same_bytes() -> None:
    settings = stack_settings(next(iter(stack_files())))
    version = next(v for v in settings.deployed_versions() if has_bytecode(v.runtime))
    assert version.code is not None
    files = package_files(settings.project_root, version.code)
    first = built_package(settings.project_root, files, version.runtime)
    before = first.read_bytes()
    first.unlink()  # the cache would hand back the same file: build it again from nothing
    again = built_package(settings.project_root, files, version.runtime)
    assert again == first and again.read_bytes() == before


def test_given_no_compiler_when_packaging_a_bytecode_runtime_then_the_error_names_the_fix(
    tmp_path: Path,
) -> None:
    runtime = next(iter(BYTECODE_RELEASES))
    with pytest.raises(pulumi.RunError, match=r"python -m mlserve layer interpreters"):
        interpreter_command(tmp_path, runtime)


@pytest.mark.parametrize("runtime", sorted(BYTECODE_RELEASES))
def test_given_read_only_task_when_the_runtimes_python_imports_then_it_uses_the_pyc(
    runtime: str,
) -> None:
    # GIVEN a registered package for this runtime (or one built for it from the same code)
    settings = stack_settings("prod")
    version = settings.deployed_versions()[0]
    assert version.code is not None
    package = built_package(
        settings.project_root, package_files(settings.project_root, version.code), runtime
    )
    with tempfile.TemporaryDirectory(prefix="lambda-task-") as root:
        task = Path(root) / "task"
        extract_like_lambda(package, task)
        for source in task.rglob("*.py"):  # a load from source could no longer succeed
            source.write_text("raise SystemExit('compiled from source')\n")
        for path in [Path(root), *Path(root).rglob("*")]:  # read-only, as /var/task in Lambda
            path.chmod(path.stat().st_mode & ~0o222 | (0o555 if path.is_dir() else 0o444))
        result = _import_as_lambda_user(runtime, task)
        for path in [Path(root), *Path(root).rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    # THEN the package's code runs from the shipped pyc, which the runtime trusts without
    # reading the source (unchecked-hash)
    shipped = ast.get_docstring(ast.parse(RUNTIME_INIT.read_text()))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(shipped), result.stdout


def _import_as_lambda_user(runtime: str, task: Path) -> subprocess.CompletedProcess[str]:
    """The runtime's own CPython importing a module as another user than root, where no source
    compile could be kept (read-only, -B)."""
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1]]; import mlserve_runtime; "
        "print(repr(mlserve_runtime.__doc__))"
    )
    if not unprivileged():
        command = [*interpreter_command(PROJECT_ROOT, runtime), "-I", "-B", "-c", probe, str(task)]
        return subprocess.run(command, capture_output=True, text=True, check=False)
    # the interpreter copied where any user may enter, as Lambda's /var/lang is (the project may
    # lie in a folder only root can enter, such as a clone in a mktemp folder)
    with tempfile.TemporaryDirectory(prefix="lambda-runtime-") as runtime_root:
        Path(runtime_root).chmod(0o755)
        copy = interpreter_root(Path(runtime_root), runtime)
        copy.parent.mkdir(parents=True, mode=0o755)
        copy.parent.parent.chmod(0o755)
        shutil.copytree(interpreter_root(PROJECT_ROOT, runtime), copy, symlinks=True)
        command = [*interpreter_command(Path(runtime_root), runtime), "-I", "-B", "-c", probe,
                   str(task)]  # fmt: skip
        return subprocess.run(
            command, capture_output=True, text=True, check=False,
            user=NOBODY, group=NOBODY, extra_groups=[],
        )  # fmt: skip
