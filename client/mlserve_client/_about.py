"""The package version: its major goes up whenever a retired API major is dropped (see README)."""

from __future__ import annotations

__version__ = "1.0.0"
