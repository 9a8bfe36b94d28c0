"""What a deployment promises its callers, as stack outputs: the `versions` entry of every version
and the stack's own facts (`deployment`). `python -m mlserve ledger` turns them into the ledger
the policy pack judges the next deployment by."""

from __future__ import annotations

from typing import Any

from components.settings import Settings, VersionSettings
from mlserve_runtime.conventions import LEDGER_VERSION, QUEUE_SUFFIXES


def deployment_facts(settings: Settings) -> dict[str, Any]:
    """The stack-wide facts callers rely on: the names every alias and function carry, the
    deprecation window in force, and the custom domain and API layout the versions answer on."""
    return {
        "ledgerVersion": LEDGER_VERSION,
        "stack": settings.stack,
        "environment": settings.environment,
        "namePrefix": settings.name_prefix,
        "deprecationWindowDays": settings.deprecation_window_days,
        "domain": settings.api.domain_name,
        "apiLayout": settings.api.layout,
    }


def ledger_entry(
    version: VersionSettings,
    served: Any = None,
    published: Any = None,
    code_sha256: str | None = None,
    revision: str | None = None,
    layer_sha256: str | None = None,
) -> dict[str, Any]:
    """One version's entry of the `versions` output, the ledger later deployments are checked
    against. For a deployed version: `served` is the version its alias serves and `published`
    the function's newest published version (both Outputs), `code_sha256` its package hash and
    `revision` the digest of what makes the provider publish (see function_revision), and
    `layer_sha256` the identity of its dependency layer's files (tree_sha256)."""
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
    if layer_sha256 is not None:
        entry["layerSha256"] = layer_sha256
    if revision is not None:
        entry["revision"] = revision
    entry["pinned"] = version.pin is not None
    if version.deprecated_on is not None:
        entry["deprecatedOn"] = version.deprecated_on.isoformat()
    if version.sunset_on is not None:
        entry["sunsetOn"] = version.sunset_on.isoformat()
    if version.successor is not None:
        entry["successor"] = version.successor
    if version.deployed:
        entry["surface"] = {
            "routes": version.route_keys,
            "auth": version.owner.auth,
        }
        if version.queue_route is not None:
            # batch callers send to the work queue and read the results queue by these names
            entry["surface"]["queue"] = {
                **{kind: version.queue_name(kind) for kind in QUEUE_SUFFIXES},
                "route": version.queue_route.key,
            }
    return entry
