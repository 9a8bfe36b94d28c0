"""The (service, major) pairs this client release supports, with their lifecycle, read from the
generated table (`_table.py`, written by `python -m mlserve client generate` from the stacks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from mlserve_client._table import ROWS


@dataclass(frozen=True)
class SupportedVersion:
    """One service major as this client release knows it."""

    service: str
    major: int
    status: Literal["active", "deprecated", "preview"]
    deprecated_on: date | None = None
    sunset_on: date | None = None
    successor: str | None = None

    @property
    def key(self) -> str:
        """The version key, e.g. `v2`."""
        return f"v{self.major}"

    @property
    def base_path(self) -> str:
        """The version's base path on the API, e.g. `/churn/v2`."""
        return f"/{self.service}/{self.key}"

    @property
    def successor_path(self) -> str | None:
        """The successor's base path, e.g. `/churn/v2`."""
        return f"/{self.service}/{self.successor}" if self.successor else None

    @property
    def module(self) -> str:
        """The module with the version's models; hyphens in service keys become underscores."""
        return f"mlserve_client.{attribute_name(self.service)}.{self.key}"


def attribute_name(service: str) -> str:
    """The Python name of a service key: `fraud-score` -> `fraud_score`."""
    return service.replace("-", "_")


SUPPORTED: tuple[SupportedVersion, ...] = tuple(
    SupportedVersion(
        row["service"], row["major"], row["status"],
        deprecated_on=date.fromisoformat(row["deprecated_on"]) if row["deprecated_on"] else None,
        sunset_on=date.fromisoformat(row["sunset_on"]) if row["sunset_on"] else None,
        successor=row["successor"],
    )
    for row in ROWS
)  # fmt: skip


def supported(service: str, major: int) -> SupportedVersion:
    """The table row of one service major; KeyError if this release does not support it."""
    for row in SUPPORTED:
        if row.service == service and row.major == major:
            return row
    raise KeyError(f"{service} v{major} is not supported by this mlserve-client release")


def recommended(service: str) -> SupportedVersion:
    """The default major of a service: the newest active one (else the newest deprecated one;
    a preview major is never the default)."""
    rows = [row for row in SUPPORTED if row.service == service]
    if not rows:
        raise KeyError(f"unknown service {service!r}")
    for status in ("active", "deprecated", "preview"):
        chosen = [row for row in rows if row.status == status]
        if chosen:
            return max(chosen, key=lambda row: row.major)
    raise KeyError(service)
