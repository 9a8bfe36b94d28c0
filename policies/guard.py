"""The pack's mandatory policies stay mandatory: a `--policy-pack-config` that sets one of them to
advisory or disabled (directly, or through `all`) is refused at Configure, so the engine stops
before any preview or update instead of letting the config switch off the rule it is judged by.

This wraps pulumi-policy's analyzer servicer's Configure (a private class, checked to exist at
start-up: without it the pack refuses to start rather than run unguarded).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
import pulumi_policy.policy as policy_module
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, Policy

KEPT = (proto.MANDATORY, proto.REMEDIATE)  # remediate also fails an update on a violation


def install_enforcement_guard(policies: Iterable[Policy], default: EnforcementLevel) -> None:
    """Refuse any Configure that lowers one of the mandatory `policies`."""
    servicer: Any = getattr(policy_module, "_PolicyAnalyzerServicer", None)
    if servicer is None or not hasattr(servicer, "Configure"):
        raise SystemExit(
            "mlserve policy pack: this pulumi-policy has no analyzer servicer to guard; install "
            "the version in policies/requirements.txt"
        )
    mandatory = {
        policy.name
        for policy in policies
        if (policy.enforcement_level or default) == EnforcementLevel.MANDATORY
    }
    configure = servicer.Configure

    def guarded_configure(self: Any, request: Any, context: Any) -> Any:
        lowered = sorted(
            name
            for name, config in request.policyConfig.items()
            if name in mandatory and config.enforcementLevel not in KEPT
        )
        if lowered:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "mlserve policy pack: the policy config lowers mandatory policies "
                f"({', '.join(lowered)}); they guard what callers were promised and stay "
                "mandatory. Remove their enforcementLevel (and any `all`) from the config",
            )
        return configure(self, request, context)

    servicer.Configure = guarded_configure
