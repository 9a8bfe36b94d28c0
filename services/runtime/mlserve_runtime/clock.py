"""The time the lifecycle rules read; tests and the local API move it with `set_clock`."""

from __future__ import annotations

import time
from collections.abc import Callable

_source: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch, from the current clock source."""
    return _source()


def set_clock(source: Callable[[], float] | None) -> None:
    """Read time from `source` from now on; `None` restores the system clock."""
    global _source
    _source = time.time if source is None else source
