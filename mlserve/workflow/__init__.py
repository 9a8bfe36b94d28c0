"""Versions as a workflow: `new service`, `new version`, `deprecate` and `retire`, each editing the
named stack files in place (comments and key order kept, through ruamel.yaml), then locking the
contract, regenerating every generated file and validating the result. A `deprecate` or
`retire` already applied says so and exits 0; `new` on an existing target and any other bad input
exit 2 with one line and write nothing; with
`--dry-run` it prints the diff it would write. If the validation at the end fails, every file it
wrote is put back."""

from __future__ import annotations

import argparse
import difflib
import io
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from mlserve.stack_files import PROJECT_ROOT, StackFileError, read_stack_file, stack_path

SERVICES_KEY = "mlserve:services"


class WorkflowError(Exception):
    """Input the command refuses; the message is the one line it prints."""


def yaml() -> YAML:
    """The round-trip YAML that keeps a stack file's comments, order and quoting."""
    loader = YAML()
    loader.preserve_quotes = True
    loader.width = 4096
    loader.indent(mapping=2, sequence=4, offset=2)
    return loader


@dataclass
class StackEdit:
    """One stack file, loaded for editing, and its text before and after."""

    stack: str
    path: Path
    before: str
    document: Any

    @property
    def services(self) -> CommentedMap:
        """The stack's `mlserve:services` mapping, editable in place."""
        config = self.document.get("config") if isinstance(self.document, dict) else None
        services = config.get(SERVICES_KEY) if isinstance(config, dict) else None
        if not isinstance(services, CommentedMap):
            raise WorkflowError(
                f"{self.path.name}: {SERVICES_KEY} is not a plain mapping (a secret or missing?); "
                "edit it with `pulumi config` instead"
            )
        return services

    def after(self) -> str:
        stream = io.StringIO()
        yaml().dump(self.document, stream)
        return stream.getvalue()


def load_stacks(stacks: list[str], root: Path = PROJECT_ROOT) -> list[StackEdit]:
    """The named stack files, each checked to be valid YAML, ready to edit."""
    edits = []
    for stack in dict.fromkeys(stacks):
        try:
            path = stack_path(stack, root)
            read_stack_file(path)  # the CLI's own reading: file:line:col on bad YAML
            text = path.read_text()
            document = yaml().load(text)
        except (StackFileError, YAMLError) as error:
            raise WorkflowError(str(error).splitlines()[0]) from None
        edits.append(StackEdit(stack, path, text, document))
    return edits


@dataclass
class Change:
    """What a command writes: stack files, new folders, and what to do once they are written."""

    edits: list[StackEdit]
    folders: dict[Path, Callable[[Path], None]] = field(default_factory=dict)
    """New folders and the function that fills each one."""
    lock_contracts: bool = False
    next_steps: list[str] = field(default_factory=list)
    today: date | None = None


def apply(change: Change, *, dry_run: bool, done: str) -> int:
    """Print the diff (dry run), or write, lock, regenerate and validate, undoing on failure."""
    changed = [edit for edit in change.edits if edit.after() != edit.before]
    if not changed and not change.folders:
        print(f"{done} already; nothing to change.")
        return 0
    if dry_run:
        for edit in changed:
            sys.stdout.writelines(difflib.unified_diff(
                edit.before.splitlines(keepends=True), edit.after().splitlines(keepends=True),
                f"a/{edit.path.name}", f"b/{edit.path.name}",
            ))  # fmt: skip
        for folder in change.folders:
            print(f"would create {folder.relative_to(PROJECT_ROOT).as_posix()}/")
        print("would then lock contracts, regenerate docs and the client, and validate.")
        return 0
    with _undo_on_failure(changed, list(change.folders)) as succeeded:
        for folder, fill in change.folders.items():
            fill(folder)
        for edit in changed:
            edit.path.write_text(edit.after())
        succeeded(_finish(change))
    if not succeeded.ok:
        print(f"{done} undone: the result did not validate (see above); nothing changed.",
              file=sys.stderr)  # fmt: skip
        return 1
    for edit in changed:
        print(f"updated {edit.path.name}")
    print(done + ".")
    for step in change.next_steps:
        print(f"next: {step}")
    return 0


def _finish(change: Change) -> bool:
    """Lock, regenerate and validate what was written (as of the command's day); whether all of
    it succeeded."""
    from mlserve import generate, validate
    from mlserve.contracts import gate

    if change.today is not None:
        os.environ["MLSERVE_TODAY"] = change.today.isoformat()  # the generators' clock
    if change.lock_contracts:
        _, problems = gate.lock_all(PROJECT_ROOT)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return False
    output = io.StringIO()
    with redirect_stdout(output):
        generated = generate.main([]) == 0
    if not generated:
        return False
    stacks = [edit.stack for edit in change.edits]
    argv = [arg for stack in stacks for arg in ("--stack", stack)]
    if change.today is not None:
        argv += ["--today", change.today.isoformat()]
    with redirect_stdout(output):
        valid = validate.main(argv) == 0
    return valid


class _Outcome:
    ok = False

    def __call__(self, ok: bool) -> None:
        self.ok = ok


@contextmanager
def _undo_on_failure(edits: list[StackEdit], folders: list[Path]) -> Iterator[_Outcome]:
    """Put every file back as it was when the block fails or reports failure."""
    tracked = [PROJECT_ROOT / "docs", PROJECT_ROOT / "client" / "mlserve_client",
               PROJECT_ROOT / "contracts"]  # fmt: skip
    saved = {path: path.read_bytes() for base in tracked for path in base.rglob("*")
             if path.is_file() and "__pycache__" not in path.parts}  # fmt: skip
    outcome = _Outcome()
    try:
        yield outcome
    finally:
        if not outcome.ok:
            for edit in edits:
                edit.path.write_text(edit.before)
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
            for base in tracked:
                for path in list(base.rglob("*")):
                    if path.is_file() and path not in saved and "__pycache__" not in path.parts:
                        path.unlink()
            for path, content in saved.items():
                if not path.is_file() or path.read_bytes() != content:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(content)


def common_arguments(parser: argparse.ArgumentParser) -> None:
    """--stack (required, repeatable), --dry-run and --today."""
    parser.add_argument("--stack", action="append", required=True,
                        help="a stack file to change (repeatable)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    parser.add_argument("--today", type=date.fromisoformat,
                        help="the day to act on (YYYY-MM-DD, UTC; default today)")  # fmt: skip


def run(command: str, body: Callable[[], int]) -> int:
    """Run a command's body; a WorkflowError becomes one line and exit 2."""
    try:
        return body()
    except WorkflowError as error:
        print(f"mlserve {command}: {error}", file=sys.stderr)
        return 2
