"""The scheduled janitor of a stack (`mlserve:pruning`): the same prune as `python -m mlserve prune
--apply`, on an EventBridge schedule (mlserve_runtime.prune holds the rules).

`prune_plan.json`, written by the program beside this module in the janitor's package, names the
stack's functions and layers, how many newest versions to keep, the versions its stack files pin,
and its CodeDeploy application and deployment groups (their in-flight versions are kept too).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mlserve_runtime.conventions import JANITOR_PLAN_FILE
from mlserve_runtime.prune import in_flight_versions, prune_all

log = logging.getLogger("mlserve.prune_janitor")
log.setLevel(logging.INFO)


def clients() -> tuple[Any, Any]:
    """Lambda and CodeDeploy clients with adaptive retries (throttling is retried)."""
    import boto3  # in every Lambda Python runtime
    from botocore.config import Config

    retries = Config(retries={"mode": "adaptive", "max_attempts": 10})
    return boto3.client("lambda", config=retries), boto3.client("codedeploy", config=retries)


def run(plan: dict[str, Any], lambda_client: Any, codedeploy: Any) -> dict[str, Any]:
    """Prune what the plan names; per function and layer what was deleted and kept."""
    protected = {name: {int(k): why for k, why in pins.items()}
                 for name, pins in plan["pinned"].items()}  # fmt: skip
    if plan["groups"]:
        flying = in_flight_versions(codedeploy, plan["application"], plan["groups"])
        for name, versions in flying.items():
            protected.setdefault(name, {}).update(versions)
    plans = prune_all(
        lambda_client, plan["functions"], plan["layers"], plan["keep"], protected, apply=True
    )
    for pruned in plans:
        for line in pruned.lines(applied=True):
            log.info(line)
    return {p.name: {"deleted": sorted(p.delete), "kept": sorted(p.keep)} for p in plans}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """EventBridge Scheduler's invocation: prune the stack."""
    plan = json.loads((Path(__file__).parent / JANITOR_PLAN_FILE).read_text())
    lambda_client, codedeploy = clients()
    return run(plan, lambda_client, codedeploy)
