"""The client package's version follows its table of supported majors."""

from __future__ import annotations

from typing import Any

from mlserve.client_package import next_version


def row(service: str, major: int, status: str = "active", sunset: str | None = None) -> Any:
    return {"service": service, "major": major, "status": status, "deprecated_on": None,
            "sunset_on": sunset, "successor": None}  # fmt: skip


TABLE = [row("churn", 1, "deprecated", "2027-06-30"), row("churn", 2)]


def test_given_same_table_when_versioned_then_unchanged() -> None:
    assert next_version("2.3.4", TABLE, list(TABLE)) == "2.3.4"


def test_given_dropped_major_when_versioned_then_major_rises() -> None:
    assert next_version("2.3.4", TABLE, TABLE[1:]) == "3.0.0"


def test_given_new_major_when_versioned_then_minor_rises() -> None:
    assert next_version("2.3.4", TABLE, [*TABLE, row("churn", 3, "preview")]) == "2.4.0"


def test_given_lifecycle_change_when_versioned_then_patch_rises() -> None:
    changed = [TABLE[0], row("churn", 2, "deprecated", "2028-01-31")]
    assert next_version("2.3.4", TABLE, changed) == "2.3.5"


def test_given_drop_and_addition_together_when_versioned_then_major_wins() -> None:
    assert next_version("2.3.4", TABLE, [TABLE[1], row("churn", 3)]) == "3.0.0"
