"""What a platform function (the rollout's hook, the pruning janitor) needs around it: its own log
group with the stack's retention, and a role only Lambda may assume."""

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
    name: str, function_name: str, settings: Settings, opts: pulumi.ResourceOptions
) -> tuple[aws.cloudwatch.LogGroup, aws.iam.Role]:
    """`<name>-logs` (/aws/lambda/<function_name>) and `<name>-role` of a platform function."""
    tags = {"mlserve:environment": settings.environment}
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
        description=f"Role of {function_name}",
        tags=tags,
        opts=opts,
    )
    return log_group, role
