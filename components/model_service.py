"""A model service: one VersionedFunction per major version that is not retired."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.ledger import ledger_entry
from components.packaging import layer_sha256
from components.settings import ServiceSettings, Settings
from components.versioned_function import VersionedFunction, VersionedFunctionArgs


@dataclass(frozen=True)
class ModelServiceArgs:
    """Inputs of a ModelService."""

    settings: Settings
    service: ServiceSettings
    layer_arns: dict[tuple[str, str], pulumi.Output[str]]
    """Dependency layer ARN by (runtime, architecture)."""


class ModelService(pulumi.ComponentResource):
    """All deployed major versions of one service; retired versions create nothing."""

    versions: dict[str, VersionedFunction]
    """The deployed versions by key (`v2`)."""
    ledger: dict[str, dict[str, Any]]
    """Every version's ledger entry (retired ones included), for the `versions` output."""

    def __init__(
        self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:service:ModelService", name, None, opts)
        self.versions = {
            version.key: VersionedFunction(
                version.logical_name,
                VersionedFunctionArgs(
                    settings=args.settings,
                    version=version,
                    layer_arn=args.layer_arns[(version.runtime, version.architecture)],
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for version in args.service.deployed_versions
        }
        self.ledger = {
            version.key: (
                ledger_entry(
                    version,
                    served=deployed.served_version,
                    published=deployed.function.version,
                    code_sha256=deployed.code_sha256,
                    revision=deployed.revision,
                    layer_sha256=layer_sha256(
                        args.settings.project_root, version.runtime, version.architecture
                    ),
                )
                if (deployed := self.versions.get(version.key)) is not None
                else ledger_entry(version)
            )
            for version in args.service.versions.values()
        }
        self.register_outputs({})
