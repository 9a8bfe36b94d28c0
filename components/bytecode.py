"""Bytecode for the function's runtime: `.pyc` compiled by that exact CPython minor, so a cold
start in Lambda (which cannot write `__pycache__` into /var/task or /opt) does not compile.

Python loads a `.pyc` only when its magic number is its own, so the compiler must be the
runtime's minor, not this machine's Python. The compilers come from Debian's archive (one of the
package registries every machine here reaches): the `python3.X-minimal` of the stable release
that ships that minor, with that release's C library, started through that library's own loader
so a newer release's interpreter runs on an older host. `python -m mlserve layer interpreters`
fetches them into build/interpreters/; `make setup` runs it.

Which runtimes get bytecode is fixed here, not by what a machine happens to have: a package's
bytes must not depend on the machine that built it (promotion compares hashes, and an unchanged
version must publish nothing). A runtime that has a compiler here and finds it missing fails the
build with the command that fetches it.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
from pathlib import Path

import pulumi

# runtime -> the Debian stable release whose python3.X-minimal is that minor
BYTECODE_RELEASES = {"python3.11": "bookworm", "python3.13": "trixie"}
DEBIAN_ARCHIVE = "http://deb.debian.org/debian"
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
FETCH_COMMAND = "python -m mlserve layer interpreters"
# this host's CPU -> Debian's library folder and the C library's loader in it (bytecode itself is
# the same on every CPU; the compiler only has to run here)
HOST_LIBRARIES = {
    "x86_64": ("x86_64-linux-gnu", "ld-linux-x86-64.so.2"),
    "aarch64": ("aarch64-linux-gnu", "ld-linux-aarch64.so.1"),
}


def has_bytecode(runtime: str) -> bool:
    """Whether packages for this runtime ship `.pyc` (a compiler for it is fetched here)."""
    return runtime in BYTECODE_RELEASES


def interpreter_root(project_root: Path, runtime: str) -> Path:
    """Where the runtime's compiler is unpacked (a Debian root holding usr/bin/python3.X)."""
    return project_root / "build" / "interpreters" / runtime


def interpreter_command(project_root: Path, runtime: str) -> list[str]:
    """The command that starts the runtime's compiler: its own release's loader and libraries,
    so it never mixes with this host's C library."""
    root = interpreter_root(project_root, runtime)
    python = root / "usr" / "bin" / runtime
    triplet, loader = HOST_LIBRARIES.get(platform.machine(), HOST_LIBRARIES["x86_64"])
    # bookworm's packages still put libraries in /lib, trixie's (merged /usr) in /usr/lib
    libraries = [root / "usr" / "lib" / triplet, root / "lib" / triplet]
    loaders = [folder / loader for folder in libraries if (folder / loader).is_file()]
    if not (python.is_file() and loaders):
        raise pulumi.RunError(
            f"no {runtime} to compile the {runtime} bytecode with ({python} is missing); "
            f"run `{FETCH_COMMAND}` (or `make setup`), which fetches Debian's "
            f"{runtime}-minimal from {BYTECODE_RELEASES[runtime]}"
        )
    return [str(loaders[0]), "--library-path", ":".join(map(str, libraries)), str(python)]


def compile_tree(project_root: Path, runtime: str, folder: Path, prefix: str) -> None:
    """Compile every module under `folder` into `__pycache__/*.cpython-3X.pyc` for `runtime`.

    `unchecked-hash`: the loader never compares the source's time or hash, so the times Lambda
    gives extracted files cannot invalidate them. One process, in sorted order, no workers, a
    fixed hash seed: the same sources give the same bytes. `prefix` is where the tree runs
    (/var/task, /opt/python), so tracebacks name the real paths, never the build folder.
    """
    command = [
        *interpreter_command(project_root, runtime), "-s", "-m", "compileall", "-q",
        "--invalidation-mode", "unchecked-hash", "-s", str(folder), "-p", prefix, str(folder),
    ]  # fmt: skip
    environment = {"PYTHONHASHSEED": "0", "PYTHONNOUSERSITE": "1", "LC_ALL": "C.UTF-8"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if result.returncode != 0:
        raise pulumi.RunError(
            f"compiling {folder} for {runtime} failed:\n{(result.stdout + result.stderr).strip()}"
        )


def fetch_interpreter(project_root: Path, runtime: str) -> Path:
    """Unpack the runtime's compiler from Debian's archive (needs apt-get and the archive)."""
    release = BYTECODE_RELEASES[runtime]
    root = interpreter_root(project_root, runtime)
    apt = root.with_name(f"{runtime}.apt")
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(
        f"deb [signed-by={DEBIAN_KEYRING}] {DEBIAN_ARCHIVE} {release} main\n"
    )
    options = [
        "-q", "-o", f"Dir::Etc::SourceList={apt / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=/dev/null", "-o", f"Dir::State::Lists={apt / 'lists'}",
        "-o", f"Dir::Cache={apt}", "-o", "Dir::State::status=/dev/null",
        "-o", "APT::Sandbox::User=root",
    ]  # fmt: skip
    minor = runtime.removeprefix("python")
    packages = [f"python{minor}-minimal", f"libpython{minor}-minimal", "libc6", "zlib1g",
                "libexpat1"]  # fmt: skip
    for stale in (apt / "archives").glob("*.deb"):
        stale.unlink()
    subprocess.run(["apt-get", *options, "update"], check=True, capture_output=True)
    subprocess.run(["apt-get", *options, "download", *packages], cwd=apt / "archives", check=True,
                   capture_output=True)  # fmt: skip
    staging = root.with_name(f"{runtime}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    for deb in sorted((apt / "archives").glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    return root
