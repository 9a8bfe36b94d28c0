"""Files generated from the stack configs and the code, and checked in: write them, or check that
they are current (CI fails on a stale one, naming the command that refreshes it)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from components.settings import ConfigError, Settings
from mlserve.stack_files import PROJECT_ROOT, StackFileError, stack_files, stack_settings

Files = dict[Path, str | None]
"""Generated text by target path; None for a generated file that must no longer exist."""


class GenerationError(ValueError):
    """Inputs a generator cannot work from; the message says why and how to fix it."""


def per_stack(
    folder: Path, suffix: str, render: Callable[[Settings], str]
) -> dict[Path, str | None]:
    """One file per stack, `<folder>/<stack><suffix>`, rendered from its settings."""
    return {folder / f"{stack}{suffix}": render(stack_settings(stack)) for stack in stack_files()}


def write_or_check(produce: Callable[[], Files], command: str, check: bool) -> int:
    """Write what `produce` renders; with `check`, only report stale files (exit 1)."""
    try:
        files = produce()
    except (ConfigError, StackFileError, GenerationError) as error:
        print(error, file=sys.stderr)
        return 1
    stale = 0
    for target, text in files.items():
        shown = os.path.relpath(target, PROJECT_ROOT)
        if text is None:
            if not target.exists():
                continue
            if check:
                stale += 1
                print(f"{shown} is stale; run `python -m mlserve {command}`", file=sys.stderr)
            else:
                target.unlink()
                print(f"removed {shown}")
            continue
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {shown}")
        elif not target.is_file() or target.read_text() != text:
            stale += 1
            print(
                f"{shown} is out of date; run `python -m mlserve {command}` and commit the result",
                file=sys.stderr,
            )
    return 1 if stale else 0
