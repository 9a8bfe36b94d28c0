"""The one table of (service, major) pairs this client release supports, with their lifecycle.

Edit this table, and only this table, when the server's lifecycle changes: a new major gets a row
(and a module `mlserve_client/<service>/v<N>.py`); a major the server deprecates gets status
"deprecated" with its sunset and successor; a major the server retires is deleted together with its
module, which is a breaking change and bumps the package's major version (see README).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal


@dataclass(frozen=True)
class SupportedVersion:
    """One service major as this client release knows it."""

    service: str
    major: int
    status: Literal["active", "deprecated"]
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


SUPPORTED: tuple[SupportedVersion, ...] = (
    SupportedVersion(
        "churn", 1, "deprecated",
        deprecated_on=date(2026, 9, 1), sunset_on=date(2027, 6, 30), successor="v2",
    ),
    SupportedVersion("churn", 2, "active"),
    SupportedVersion(
        "sentiment", 1, "active",
        deprecated_on=date(2027, 1, 15), sunset_on=date(2027, 7, 31), successor="v2",
    ),
    SupportedVersion("sentiment", 2, "active"),
)  # fmt: skip


def supported(service: str, major: int) -> SupportedVersion:
    """The table row of one service major; KeyError if this release does not support it."""
    for row in SUPPORTED:
        if row.service == service and row.major == major:
            return row
    raise KeyError(f"{service} v{major} is not supported by this mlserve-client release")


def recommended(service: str) -> SupportedVersion:
    """The default major of a service: the newest one that is not deprecated."""
    rows = [row for row in SUPPORTED if row.service == service]
    if not rows:
        raise KeyError(f"unknown service {service!r}")
    active = [row for row in rows if row.status == "active"]
    return max(active or rows, key=lambda row: row.major)
