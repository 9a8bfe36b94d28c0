"""The third-party packages every handler imports, as one Lambda layer per runtime and CPU."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.packaging import layer_directory
from components.rollout import hook_platform
from components.settings import Settings
from mlserve_runtime.conventions import layer_name, layer_suffix


@dataclass(frozen=True)
class DependencyLayersArgs:
    """Inputs of DependencyLayers."""

    settings: Settings


class DependencyLayers(pulumi.ComponentResource):
    """One layer version per (runtime, architecture) that a deployed zip version uses."""

    arns: dict[tuple[str, str], pulumi.Output[str]]
    """Layer version ARN by (runtime, architecture)."""

    def __init__(
        self, name: str, args: DependencyLayersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:lambda:DependencyLayers", name, None, opts)
        settings = args.settings
        platforms = {(v.runtime, v.architecture) for v in settings.deployed_versions()
                     if v.image is None}  # fmt: skip  # an image brings its own
        rolled = [v for v in settings.deployed_versions() if v.rollout is not None]
        if rolled:  # the hook runs on a layer too
            platforms.add(hook_platform(rolled))
        self.arns = {}
        for runtime, architecture in sorted(platforms):
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
        self.register_outputs({})
