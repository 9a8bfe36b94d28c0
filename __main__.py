"""mlserve: ML model services on AWS Lambda with major API versions, one stack per environment."""

from __future__ import annotations

import gc

import pulumi

from components.dependency_layers import DependencyLayers, DependencyLayersArgs
from components.ledger import deployment_facts
from components.model_service import ModelService, ModelServiceArgs
from components.pruning import StackPruning, StackPruningArgs
from components.rollout import StackRollout, StackRolloutArgs
from components.settings import load_settings
from components.telemetry import StackTelemetry, StackTelemetryArgs
from components.versioned_api import VersionedApi, VersionedApiArgs

# A short-lived process whose objects (pulumi_aws's ~110k after import, then every resource and
# Output) live until it exits: the cyclic collector would only rescan them, ever more often as a
# stack grows, which made 250 versions cost 6-7x 50 (bench/program_cost.py). Reference counting
# still frees everything acyclic.
gc.freeze()
gc.disable()
settings = load_settings()
layers = DependencyLayers("deps", DependencyLayersArgs(settings=settings))
services = {
    key: ModelService(
        key,
        ModelServiceArgs(
            settings=settings,
            service=service,
            layer_arns=layers.arns,
            layer_sha256s=layers.sha256s,
        ),
    )
    for key, service in settings.services.items()
}
api = VersionedApi("api", VersionedApiArgs(settings=settings, services=services))
functions = {
    (key, version): function
    for key, service in services.items()
    for version, function in service.versions.items()
}
rollout = (
    StackRollout(
        "rollout",
        StackRolloutArgs(settings=settings, functions=functions, layer_arns=layers.arns),
    )
    if any(version.rollout for version in settings.deployed_versions())
    else None
)
if settings.pruning is not None:
    StackPruning(
        "pruning",
        StackPruningArgs(
            settings=settings,
            functions=functions,
            layer_arns=layers.arns,
            deployment_groups=[g.arn for g in rollout.groups.values()] if rollout else [],
        ),
    )
telemetry = StackTelemetry(
    "telemetry",
    StackTelemetryArgs(settings=settings, access_log_group=api.access_logs, api_ids=api.api_ids),
)

pulumi.export("versions", {key: service.ledger for key, service in services.items()})
pulumi.export("deployment", deployment_facts(settings))
pulumi.export(
    "functions",
    {
        f"{key}/{version}": function.alias.arn
        for key, service in services.items()
        for version, function in service.versions.items()
    },
)
pulumi.export(
    "queues",
    {
        f"{key}/{version}": {
            "work": function.queues.work.url,
            "results": function.queues.results.url,
            "deadLetter": function.queues.dead_letter.url,
        }
        for (key, version), function in functions.items()
        if function.queues is not None
    },
)
if api.url is not None:  # per-service APIs without a custom domain have no one base URL
    pulumi.export("apiUrl", api.url)
pulumi.export("dashboards", [dashboard.dashboard_name for dashboard in telemetry.dashboards])
pulumi.export("endpoints", api.endpoints)
pulumi.export("consumerPolicies", api.consumer_policies)
if api.domain_target is not None:
    pulumi.export("domainTarget", api.domain_target)
