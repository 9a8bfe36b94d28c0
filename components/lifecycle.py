"""What a version's lifecycle means for its function environment and for the ledger output."""

from __future__ import annotations

from typing import Any

from components.settings import Settings, VersionSettings


def function_environment(settings: Settings, version: VersionSettings) -> dict[str, str]:
    """The environment variables a version's function gets; the local API sets the same ones."""
    environment = {
        **version.environment,
        "MLSERVE_SERVICE": version.service,
        "MLSERVE_VERSION": version.key,
        "MLSERVE_ENVIRONMENT": settings.environment,
        "MLSERVE_LIFECYCLE": version.status,
        "POWERTOOLS_SERVICE_NAME": version.service,
    }
    if version.deprecated_on is not None:
        environment["MLSERVE_DEPRECATED_ON"] = version.deprecated_on.isoformat()
    if version.sunset_on is not None:
        environment["MLSERVE_SUNSET_ON"] = version.sunset_on.isoformat()
    if version.successor is not None:
        environment["MLSERVE_SUCCESSOR_PATH"] = f"/{version.service}/{version.successor}"
    if settings.api.docs_url is not None:
        environment["MLSERVE_DOCS_URL"] = (
            f"{settings.api.docs_url.rstrip('/')}/{version.service}/{version.key}"
        )
    return environment


def ledger_entry(version: VersionSettings, lambda_version: Any = None) -> dict[str, Any]:
    """One version's entry of the `versions` output, the ledger later deployments are checked
    against; `lambda_version` is the served version (an Output), absent for retired ones."""
    entry: dict[str, Any] = {
        "function": version.function_name,
        "alias": version.alias_name,
        "status": version.status,
    }
    if lambda_version is not None:
        entry["lambdaVersion"] = str(version.pin) if version.pin is not None else lambda_version
    entry["pinned"] = version.pin is not None
    if version.deprecated_on is not None:
        entry["deprecatedOn"] = version.deprecated_on.isoformat()
    if version.sunset_on is not None:
        entry["sunsetOn"] = version.sunset_on.isoformat()
    if version.successor is not None:
        entry["successor"] = version.successor
    return entry
