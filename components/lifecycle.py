"""A version's entry in the `versions` output: the ledger later deployments are judged by."""

from __future__ import annotations

from typing import Any

from components.settings import VersionSettings


def ledger_entry(
    version: VersionSettings,
    served: Any = None,
    published: Any = None,
    code_sha256: str | None = None,
    revision: str | None = None,
) -> dict[str, Any]:
    """One version's entry of the `versions` output, the ledger later deployments are checked
    against. For a deployed version: `served` is the version its alias serves and `published`
    the function's newest published version (both Outputs), `code_sha256` its package hash and
    `revision` the digest of what makes the provider publish (see function_revision)."""
    entry: dict[str, Any] = {
        "function": version.function_name,
        "alias": version.alias_name,
        "status": version.status,
    }
    if served is not None:
        entry["lambdaVersion"] = served
    if published is not None:
        entry["publishedVersion"] = published
    if code_sha256 is not None:
        entry["codeSha256"] = code_sha256
    if revision is not None:
        entry["revision"] = revision
    entry["pinned"] = version.pin is not None
    if version.deprecated_on is not None:
        entry["deprecatedOn"] = version.deprecated_on.isoformat()
    if version.sunset_on is not None:
        entry["sunsetOn"] = version.sunset_on.isoformat()
    if version.successor is not None:
        entry["successor"] = version.successor
    return entry
