"""What every function the stack runs needs around it (a version's, the rollout's hook, the pruning
janitor): its own log group with the stack's retention, and an execution role only Lambda may
assume."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from components.settings import Settings

XRAY_STATEMENT = {
    "Sid": "XRayTraceWritesAwsAllowsOnlyOnStar",
    "Effect": "Allow",
    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
    "Resource": "*",
}
"""What an Active-traced function's role needs: Lambda refuses to create the function without it."""


def service_trust(service: str) -> dict[str, Any]:
    """A role trust policy letting one AWS service assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def logs_and_role(
    name: str,
    function_name: str,
    settings: Settings,
    opts: pulumi.ResourceOptions,
    tags: dict[str, str] | None = None,
) -> tuple[aws.cloudwatch.LogGroup, aws.iam.Role]:
    """`<name>-logs` (/aws/lambda/<function_name>) and `<name>-role` of a function; the tags
    default to the stack's environment."""
    tags = tags or {"mlserve:environment": settings.environment}
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-logs",
        name=f"/aws/lambda/{function_name}",
        retention_in_days=settings.log_retention_days,
        tags=tags,
        opts=opts,
    )
    role = aws.iam.Role(
        f"{name}-role",
        assume_role_policy=json.dumps(service_trust("lambda.amazonaws.com")),
        description=f"Execution role of {function_name}",
        tags=tags,
        opts=opts,
    )
    return log_group, role
