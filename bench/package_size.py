"""Deployment bytes: each function's package per stack, zipped exactly as the program uploads it
(`zipped(package_files(...))`), split into code, weights and runtime, and the
dependency layer of each (runtime, architecture) the stack uses, its folder zipped the same way.

Compressed bytes per part are the zip entries' compressed sizes; `zip` is the archive's own
overhead (headers, central directory), so the parts and it add up to the total. No target; for
scale, Lambda allows 50 MB zipped per direct upload and 250 MB unzipped for function + layers.
Run: .venv/bin/python bench/package_size.py
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from components.packaging import (  # noqa: E402
    RUNTIME_PACKAGE,
    layer_directory,
    package_files,
    zipped,
)
from mlserve.stack_files import stack_files, stack_settings  # noqa: E402

PARTS = ("code", "weights", "runtime")
LAYER_PARTS = ("pydantic_core", "pydantic", "aws_lambda_powertools")
MB = 1024 * 1024


def package_part(name: str) -> str:
    """Which part of a function package an archive path belongs to."""
    if name.startswith(f"{RUNTIME_PACKAGE.name}/"):
        return "runtime"
    return "code" if name.endswith(".py") else "weights"


def layer_part(name: str) -> str:
    """Which top-level package of the layer an archive path belongs to (`other` for the rest)."""
    top = name.removeprefix("python/").split("/", 1)[0]
    return top if top in LAYER_PARTS else "other"


def split(data: bytes, *, layer: bool = False) -> dict[str, int]:
    """Compressed bytes per part, the total, the unzipped total, and the zip overhead."""
    sizes: dict[str, int] = defaultdict(int)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            part = layer_part(info.filename) if layer else package_part(info.filename)
            sizes[part] += info.compress_size
            sizes["unzipped"] += info.file_size
            sizes["files"] += 1
    parts = (*LAYER_PARTS, "other") if layer else PARTS
    sizes["total"] = len(data)
    sizes["zip"] = len(data) - sum(sizes[part] for part in parts)
    return dict(sizes)


def layer_zip(folder: Path) -> bytes:
    """The layer folder zipped as its FileArchive is uploaded: every file, paths from the folder."""
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    return zipped({path.relative_to(folder).as_posix(): path for path in files})


def main() -> None:
    """Measure and print a table per stack."""
    layers: dict[tuple[str, str], dict[str, int]] = {}
    for stack in stack_files():
        settings = stack_settings(stack)
        print(f"stack {stack}: function packages (bytes, zipped as uploaded)")
        print(f"{'function':<24} {'total':>8} {'code':>7} {'weights':>8} {'runtime':>8} "
              f"{'zip':>6} {'files':>5} {'unzipped':>9}")  # fmt: skip
        for version in settings.deployed_versions():
            assert version.code is not None
            data = zipped(package_files(settings.project_root, version.code))
            sizes = split(data)
            print(
                f"{version.function_name:<24} {sizes['total']:>8} "
                + " ".join(f"{sizes.get(part, 0):>{max(6, len(part))}}" for part in PARTS)
                + f" {sizes['zip']:>6} {sizes['files']:>5} {sizes['unzipped']:>9}"
            )
            key = (version.runtime, version.architecture)
            if key not in layers:
                layers[key] = split(layer_zip(layer_directory(ROOT, *key)), layer=True)
        print()
    print("dependency layers (bytes, zipped as uploaded)")
    print(f"{'layer':<20} {'total':>9} {'pydantic_core':>13} {'pydantic':>9} "
          f"{'powertools':>10} {'other':>8} {'zip':>7} {'files':>5} {'unzipped':>9}")  # fmt: skip
    for (runtime, architecture), sizes in sorted(layers.items()):
        total = sizes["total"]
        print(
            f"{runtime + '/' + architecture:<20} {total:>9} {sizes.get('pydantic_core', 0):>13} "
            f"{sizes.get('pydantic', 0):>9} {sizes.get('aws_lambda_powertools', 0):>10} "
            f"{sizes.get('other', 0):>8} {sizes['zip']:>7} {sizes['files']:>5} "
            f"{sizes['unzipped']:>9}"
        )
        print(f"  = {total / MB:.1f} MB zipped (limit 50 MB), {sizes['unzipped'] / MB:.1f} MB "
              "unzipped (function + layers limit 250 MB)")  # fmt: skip


if __name__ == "__main__":
    main()
