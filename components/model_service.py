"""A model service: one VersionedFunction per major version that is not retired."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

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
        self.register_outputs({})
