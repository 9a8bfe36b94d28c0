"""Advisory: what operators need to debug a version in production (traces, bounded logs, access
logs)."""

from __future__ import annotations

import json

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from conventions import ACCESS_LOG_FORMAT, ACCESS_LOG_FORMAT_LIMIT, CALLER_KEYS
from properties import Unknown, guarded, lookup, text, unknown
from resources import FUNCTION, LOG_GROUP, STAGE

NEEDED_FIELDS = ("routeKey", "status", "requestTimeEpoch", *CALLER_KEYS)


def lambda_tracing_active_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check that a function sends X-Ray traces."""
    if args.resource_type != FUNCTION:
        return
    mode = text(args.props, "tracingConfig", "mode")
    if isinstance(mode, Unknown):
        unknown("tracingConfig.mode")
    if mode != "Active":
        report_violation(
            f"function {args.name!r} has tracing mode {mode!r}; set tracing_config "
            "{'mode': 'Active'} so requests can be followed through API Gateway and Lambda",
            None,
        )


def log_groups_retention_set_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check that a log group expires its events."""
    if args.resource_type != LOG_GROUP:
        return
    retention = lookup(args.props, "retentionInDays")
    if isinstance(retention, Unknown):
        unknown("retentionInDays")
    if isinstance(retention, bool) or not isinstance(retention, int | float) or retention <= 0:
        report_violation(
            f"log group {args.name!r} keeps logs forever (retentionInDays {retention!r}); set "
            "retention_in_days (mlserve:logRetentionDays)",
            None,
        )


def api_stage_access_logging_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Check that an API stage writes access logs somewhere, in some format."""
    if args.resource_type != STAGE:
        return
    # An unknown destination (a log group created in the same update) is still a destination.
    destination = lookup(args.props, "accessLogSettings", "destinationArn")
    log_format = lookup(args.props, "accessLogSettings", "format")
    if isinstance(destination, Unknown) and isinstance(log_format, Unknown):
        unknown("accessLogSettings")
    if not destination or not log_format:
        report_violation(
            f"stage {args.name!r} writes no access logs; set access_log_settings with a "
            "destination log group and a JSON format",
            None,
        )
        return
    if isinstance(log_format, str):
        problem = _format_problem(log_format)
        if problem:
            report_violation(
                f"stage {args.name!r}'s access log cannot tell who calls which version: {problem}"
                "; `mlserve usage` and the deprecated versions' callers rules read it",
                None,
            )


def _format_problem(log_format: str) -> str | None:
    """What keeps an access-log format from naming each request's route, status and caller."""
    if len(log_format.encode()) > ACCESS_LOG_FORMAT_LIMIT:
        return f"its format is over API Gateway's {ACCESS_LOG_FORMAT_LIMIT} bytes"
    try:
        fields = json.loads(log_format)
    except ValueError:
        return "its format is not JSON"
    if not isinstance(fields, dict):
        return "its format is not a JSON object"
    missing = [key for key in NEEDED_FIELDS if fields.get(key) != ACCESS_LOG_FORMAT[key]]
    if missing:
        return f"its format lacks {', '.join(missing)} (see ACCESS_LOG_FORMAT)"
    return None


lambda_tracing_active = ResourceValidationPolicy(
    name="lambda-tracing-active",
    description="Requires X-Ray tracing in Active mode on every Lambda function.",
    validate=guarded(lambda_tracing_active_validator),
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation_steps="Set tracing_config={'mode': 'Active'} on the function.",
)

log_groups_retention_set = ResourceValidationPolicy(
    name="log-groups-retention-set",
    description="Requires every CloudWatch log group to set a retention period.",
    validate=guarded(log_groups_retention_set_validator),
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation_steps=(
        "Set retention_in_days on the log group (mlserve:logRetentionDays), and create each "
        "function's /aws/lambda/<name> log group yourself so Lambda does not create one that "
        "never expires."
    ),
)

api_stage_access_logging = ResourceValidationPolicy(
    name="api-stage-access-logging",
    description=(
        "Requires access logging on every API Gateway stage, in a JSON format that names each "
        "request's route, status, time and caller."
    ),
    validate=guarded(api_stage_access_logging_validator),
    enforcement_level=EnforcementLevel.ADVISORY,
    remediation_steps=(
        "Set access_log_settings={'destination_arn': <log group arn>, 'format': "
        "json.dumps(ACCESS_LOG_FORMAT)} on the stage (VersionedApi does)."
    ),
)
