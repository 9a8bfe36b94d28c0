"""What goes into a function's deployment package and into the shared dependency layer."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pulumi

RUNTIME_PACKAGE = Path("services/runtime/mlserve_runtime")
LAYER_REQUIREMENTS = Path("services/requirements.txt")
LIFECYCLE_STAMP = "mlserve_lifecycle.json"
SKIPPED_PARTS = {"__pycache__", "tests", ".pytest_cache"}
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


def package_contents(
    project_root: Path, code: Path, environment: dict[str, str]
) -> dict[str, Path | str]:
    """Every file of a version's zip by archive path: its code folder and the shared runtime (as
    paths), and a stamp of its environment (as text).

    The stamp makes the code hash follow the lifecycle: a lifecycle change is an environment
    change, and the Lambda provider only publishes a new version for some configuration changes,
    so without the stamp the alias could keep serving a version with the old lifecycle.
    """
    files: dict[str, Path | str] = {
        path.relative_to(code).as_posix(): path for path in _source_files(code)
    }
    runtime = project_root / RUNTIME_PACKAGE
    for path in _source_files(runtime):
        files[f"{RUNTIME_PACKAGE.name}/{path.relative_to(runtime).as_posix()}"] = path
    files[LIFECYCLE_STAMP] = json.dumps(environment, sort_keys=True, indent=2) + "\n"
    return dict(sorted(files.items()))


def built_package(project_root: Path, contents: dict[str, Path | str]) -> Path:
    """The package as a reproducible zip under build/packages/, named by a hash of its entries, so
    the engine hashes and uploads exactly these bytes and an unchanged version is not rezipped."""
    digest = hashlib.sha256()
    for name, item in contents.items():
        data = _entry_bytes(item)
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    target = project_root / "build" / "packages" / f"{digest.hexdigest()[:24]}.zip"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(f".{os.getpid()}.partial")
        staging.write_bytes(zipped(contents))
        staging.replace(target)
    return target


def zipped(contents: dict[str, Path | str]) -> bytes:
    """The package zipped the way it is uploaded, to measure and inspect it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, item in contents.items():
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible
            archive.writestr(entry, _entry_bytes(item), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _entry_bytes(item: Path | str) -> bytes:
    """A package entry's content: a file's bytes, or the stamp's text as UTF-8."""
    return item.read_bytes() if isinstance(item, Path) else item.encode()


def _source_files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS.intersection(path.relative_to(folder).parts)
        and path.suffix != ".pyc"
    )


def layer_directory(project_root: Path, runtime: str, architecture: str) -> Path:
    """The built dependency layer for a runtime and architecture; builds it when missing.

    Wheels are chosen for Lambda's platform (manylinux, the runtime's Python, the architecture),
    never for this machine, so compiled packages such as pydantic-core load in Lambda.
    """
    requirements = project_root / LAYER_REQUIREMENTS
    digest = hashlib.sha256(
        requirements.read_bytes() + f"{runtime}/{architecture}".encode()
    ).hexdigest()[:12]
    target = project_root / "build" / "layers" / f"{runtime}-{architecture}-{digest}"
    if (target / "python").is_dir():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--only-binary=:all:", "--implementation", "cp",
        "--platform", PLATFORMS[architecture],
        "--python-version", runtime.removeprefix("python"),
        "--target", str(staging / "python"),
        "--requirement", str(requirements),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise pulumi.RunError(
            f"building the dependency layer for {runtime}/{architecture} from "
            f"{LAYER_REQUIREMENTS} failed:\n{result.stderr.strip()}"
        )
    staging.rename(target)
    return target
