"""The floor pack for bench/policy_scaling.py: one stack policy that reads nothing.

pulumi-policy refuses a pack without policies, and a stack policy (not a resource policy) makes
AnalyzeStack decode every resource once, as any pack with a stack policy must: what remains is
what the protocol and pulumi-policy cost, before any rule of ours runs.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)


def noop_stack_validator(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Accept every stack without reading it."""


PolicyPack(
    name="mlserve-bench-noop",
    description="The floor for policy benchmarks: one stack policy that checks nothing.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name="noop-stack",
            description="Requires nothing; the floor of a pack with one stack policy.",
            validate=noop_stack_validator,
            enforcement_level=EnforcementLevel.MANDATORY,
            remediation_steps="None; this pack exists to be measured against.",
        )
    ],
)
