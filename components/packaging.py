"""What goes into a function's deployment package and into the shared dependency layer."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import pulumi

from components.bytecode import compile_tree, has_bytecode
from mlserve_runtime.conventions import code_sha256 as lambda_code_sha256
from mlserve_runtime.conventions import tree_sha256

RUNTIME_PACKAGE = Path("services/runtime/mlserve_runtime")
LAYER_REQUIREMENTS = Path("services/requirements.in")
LAYER_LOCKS = Path("services/locks")
LOCK_COMMAND = "python -m mlserve layer lock"
SKIPPED_PARTS = {"__pycache__", "tests", ".pytest_cache"}
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
ARCHITECTURES = tuple(PLATFORMS)
# Lambda extracts a package as root and runs the code as another user: every file must be
# readable by others (0644, 0755 for executables) and every folder searchable (0755).
FILE_MODE = 0o100644
EXECUTABLE_MODE = 0o100755
FOLDER_MODE = 0o040755
UNIX = 3  # ZipInfo.create_system: the mode in external_attr is a Unix mode
MSDOS_DIRECTORY = 0x10
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same bytes on every build
TASK_ROOT, LAYER_ROOT = "/var/task", "/opt/python"  # where Lambda puts a package and a layer


def package_files(project_root: Path, code: Path) -> dict[str, Path]:
    """Every file of a version's zip by archive path: its code folder and the shared runtime.

    Nothing of the stack goes in: the environment and lifecycle live only in the function's
    configuration, so every stack deploys the same bytes for the same code.
    """
    files = {path.relative_to(code).as_posix(): path for path in _source_files(code)}
    runtime = project_root / RUNTIME_PACKAGE
    for path in _source_files(runtime):
        files[f"{RUNTIME_PACKAGE.name}/{path.relative_to(runtime).as_posix()}"] = path
    return dict(sorted(files.items()))


def built_package(project_root: Path, files: dict[str, Path], runtime: str) -> Path:
    """The package as a reproducible zip under build/packages/, named by a hash of its entries and
    the runtime its bytecode is for, so the engine uploads exactly these bytes and an unchanged
    version is not rebuilt. For a runtime with bytecode (components.bytecode) every module's
    `.pyc` goes in beside it."""
    digest = hashlib.sha256(f"bytecode {runtime}\0".encode() if has_bytecode(runtime) else b"")
    for name, path in files.items():
        data = path.read_bytes()
        digest.update(f"{name}\0{_mode(path):o}\0{len(data)}\0".encode() + data)
    target = project_root / "build" / "packages" / f"{digest.hexdigest()[:24]}.zip"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(f".{os.getpid()}.partial")
        with tempfile.TemporaryDirectory(dir=target.parent) as tree:
            staging.write_bytes(zipped(_with_bytecode(project_root, files, runtime, Path(tree))))
        staging.replace(target)
    return target


def _with_bytecode(
    project_root: Path, files: dict[str, Path], runtime: str, tree: Path
) -> dict[str, Path]:
    """The files and, for a runtime with bytecode, each module's `.pyc` compiled in `tree` as if
    it lay in /var/task."""
    if not has_bytecode(runtime):
        return files
    for name, path in files.items():
        if name.endswith(".py"):
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, tree / name)
    compile_tree(project_root, runtime, tree, TASK_ROOT)
    compiled = {path.relative_to(tree).as_posix(): path for path in tree.rglob("*.pyc")}
    return dict(sorted({**files, **compiled}.items()))


def zipped(files: dict[str, Path]) -> bytes:
    """The package zipped the way it is uploaded: sorted entries, a fixed time, Unix modes that
    Lambda's unprivileged user can read, and an entry for every folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        written: set[str] = set()
        for name, path in files.items():
            for folder in reversed(PurePosixPath(name).parents[:-1]):
                if str(folder) not in written:
                    written.add(str(folder))
                    archive.writestr(_entry(f"{folder}/", FOLDER_MODE), b"")
            archive.writestr(_entry(name, _mode(path)), path.read_bytes())
    return buffer.getvalue()


def code_sha256(package: Path) -> str:
    """The package's hash as Lambda reports it (`CodeSha256`: base64 of the SHA-256)."""
    return lambda_code_sha256(package.read_bytes())


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    entry.create_system = UNIX
    entry.external_attr = mode << 16 | (MSDOS_DIRECTORY if stat.S_ISDIR(mode) else 0)
    entry.compress_type = zipfile.ZIP_STORED if stat.S_ISDIR(mode) else zipfile.ZIP_DEFLATED
    return entry


def _mode(path: Path) -> int:
    return EXECUTABLE_MODE if path.stat().st_mode & 0o111 else FILE_MODE


def _source_files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS.intersection(path.relative_to(folder).parts)
        and path.suffix != ".pyc"
    )


def layer_lock(project_root: Path, runtime: str, architecture: str) -> Path:
    """The hash-pinned lock of the layer for one Lambda runtime and architecture."""
    return project_root / LAYER_LOCKS / f"{runtime}-{architecture}.txt"


def layer_lock_digest(project_root: Path, runtime: str, architecture: str) -> str:
    """The sha256 of the layer's lock: the same lock always builds the same layer."""
    lock = layer_lock(project_root, runtime, architecture)
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else "no lock"


def layer_sha256(project_root: Path, runtime: str, architecture: str) -> str:
    """The built layer folder's `tree_sha256`, cached beside it: a built folder never changes
    (its name holds its lock's digest, and it is built once, atomically)."""
    folder = layer_directory(project_root, runtime, architecture)
    cache = folder.with_name(f"{folder.name}.sha256")
    if cache.is_file():
        return cache.read_text().strip()
    value = tree_sha256(folder)
    cache.write_text(value + "\n")
    return value


def layer_directory(project_root: Path, runtime: str, architecture: str) -> Path:
    """The built dependency layer for a runtime and architecture; builds it when missing.

    It installs exactly the lock's distributions, each checked against its hash, as wheels for
    Lambda's platform (manylinux, the runtime's Python, the architecture), never for this
    machine, so compiled packages such as pydantic-core load in Lambda and every build of the
    same lock gives the same layer. pip compiles nothing (it would use this machine's Python,
    whose bytecode the runtime ignores); a runtime with bytecode gets its own, as /opt/python.
    """
    lock = layer_lock(project_root, runtime, architecture)
    if not lock.is_file():
        raise pulumi.RunError(
            f"no lock for the dependency layer of {runtime}/{architecture} "
            f"({lock.relative_to(project_root)}); run `{LOCK_COMMAND}` and commit the result"
        )
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]
    bytecode = "-pyc" if has_bytecode(runtime) else ""
    target = project_root / "build" / "layers" / f"{runtime}-{architecture}-{digest}{bytecode}"
    if (target / "python").is_dir():
        return target
    staging = target.with_name(f"{target.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--no-deps", "--require-hashes", "--only-binary=:all:",
        "--implementation", "cp", "--platform", PLATFORMS[architecture],
        "--python-version", runtime.removeprefix("python"),
        "--target", str(staging / "python"),
        "--requirement", str(lock),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise pulumi.RunError(
            f"building the dependency layer for {runtime}/{architecture} from "
            f"{lock.relative_to(project_root)} failed:\n{result.stderr.strip()}"
        )
    if has_bytecode(runtime):
        try:
            compile_tree(project_root, runtime, staging / "python", LAYER_ROOT)
        except pulumi.RunError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    try:
        staging.rename(target)
    except OSError:  # another run built the same lock meanwhile: keep its identical result
        shutil.rmtree(staging, ignore_errors=True)
    return target
