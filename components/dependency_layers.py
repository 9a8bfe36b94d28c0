"""The third-party packages every handler imports, as one Lambda layer per runtime and CPU."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.packaging import layer_directory, layer_sha256
from components.settings import Settings
from mlserve_runtime.conventions import layer_name, layer_suffix


@dataclass(frozen=True)
class DependencyLayersArgs:
    """Inputs of DependencyLayers."""

    settings: Settings


class DependencyLayers(pulumi.ComponentResource):
    """One layer version per (runtime, architecture) the stack's functions use
    (Settings.layer_platforms)."""

    arns: dict[tuple[str, str], pulumi.Output[str]]
    """Layer version ARN by (runtime, architecture)."""
    sha256s: dict[tuple[str, str], str]
    """The layer folder's tree_sha256 (the ledger's layerSha256) by (runtime, architecture)."""

    def __init__(
        self, name: str, args: DependencyLayersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:lambda:DependencyLayers", name, None, opts)
        settings = args.settings
        self.arns = {}
        self.sha256s = {}
        for runtime, architecture in settings.layer_platforms:
            layer = aws.lambda_.LayerVersion(
                f"{name}-{layer_suffix(runtime, architecture)}",
                layer_name=layer_name(settings.name_prefix, runtime, architecture),
                description="aws-lambda-powertools and pydantic for mlserve handlers",
                code=pulumi.FileArchive(
                    str(layer_directory(settings.project_root, runtime, architecture))
                ),
                compatible_runtimes=[runtime],
                compatible_architectures=[architecture],
                # Replaced layer versions are deleted (no skip_destroy): AWS keeps a deleted
                # layer version available to every function version that already uses it, so a
                # pinned (rollback) version still runs; only new function versions could not
                # use it, and the program publishes those with the current layer.
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.arns[(runtime, architecture)] = layer.arn
            self.sha256s[(runtime, architecture)] = layer_sha256(
                settings.project_root, runtime, architecture
            )
        self.register_outputs({})
