"""Files generated from the stack configs and checked in: write them, or check they are current."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from components.settings import ConfigError, Settings
from mlserve.offline import PROJECT_ROOT
from mlserve.stack_files import stack_files, stack_settings


def write_or_check(
    folder: Path, suffix: str, render: Callable[[Settings], str], command: str, check: bool
) -> int:
    """Render one file per stack into `folder`; with `check`, only report stale files (exit 1)."""
    stale: list[Path] = []
    for stack in stack_files():
        try:
            text = render(stack_settings(stack))
        except ConfigError as error:
            print(f"stack {stack}: {error}", file=sys.stderr)
            return 1
        target = folder / f"{stack}{suffix}"
        shown = os.path.relpath(target, PROJECT_ROOT)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            print(f"wrote {shown}")
        elif not target.is_file() or target.read_text() != text:
            stale.append(target)
            print(
                f"{shown} is out of date with its stack config; run `python -m mlserve "
                f"{command}` and commit the result",
                file=sys.stderr,
            )
    return 1 if stale else 0
