"""The pre-traffic contract check: CodeDeploy's `BeforeAllowTraffic` hook of a stack's rollouts.

Before a newly published Lambda version gets any traffic, the hook invokes that version directly
(its qualified ARN) with each route's example request from its contract and checks the answers
(mlserve_runtime.contract_check). It then reports Succeeded or Failed to CodeDeploy, always (an
unreported hook would hold the deployment for an hour); Failed stops the deployment before the
alias moves.

`rollout_checks.json`, written by the program beside this module in the hook's package, holds per
rolled-out function the version's base path and, per route, the example and the locked response
schema.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlserve_runtime.contract_check import version_problems
from mlserve_runtime.conventions import HOOK_CHECKS_FILE, shift_properties

log = logging.getLogger("mlserve.rollout_hook")


def deployment_target(deployment: Mapping[str, Any]) -> tuple[str, str, str]:
    """(function, alias, target version) from a Lambda deployment's AppSpec."""
    shift = shift_properties(deployment["deploymentInfo"])
    return shift["Name"], shift["Alias"], str(shift["TargetVersion"])


def run_hook(event: Mapping[str, Any], codedeploy: Any, lambda_client: Any, checks: Any) -> str:
    """Check the deployment's target version and report the outcome; the status reported."""
    deployment_id = event["DeploymentId"]
    status = "Failed"
    try:
        name, alias, target = deployment_target(
            codedeploy.get_deployment(deploymentId=deployment_id)
        )
        own = checks.get(name)
        if own is None:
            log.error("%s is not a rolled-out function of this stack; refusing it", name)
        else:

            def invoke(request: dict[str, Any]) -> Mapping[str, Any]:
                answer = lambda_client.invoke(
                    FunctionName=name, Qualifier=target, Payload=json.dumps(request).encode()
                )
                payload = json.loads(answer["Payload"].read() or b"{}")
                if answer.get("FunctionError"):
                    return {"statusCode": f"a function error ({answer['FunctionError']})",
                            "body": json.dumps(payload)}  # fmt: skip
                return payload if isinstance(payload, Mapping) else {}

            problems = version_problems(own, invoke)
            for problem in problems:
                log.error("%s:%s (for alias %s): %s", name, target, alias, problem)
            status = "Failed" if problems else "Succeeded"
    finally:
        codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id,
            lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
            status=status,
        )
    return status


def handler(event: Mapping[str, Any], context: Any) -> dict[str, str]:
    """The Lambda entry point CodeDeploy invokes."""
    import boto3  # the Lambda Python runtimes include the AWS SDK for Python

    checks = json.loads((Path(__file__).resolve().parent / HOOK_CHECKS_FILE).read_text())
    status = run_hook(event, boto3.client("codedeploy"), boto3.client("lambda"), checks)
    return {"status": status}
