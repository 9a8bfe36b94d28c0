"""The mlserve policy pack: the engine runs `python -m pulumi.policy <engine> .` in this folder."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyPack

from all_policies import POLICIES
from guard import install_enforcement_guard
from shared_decoding import install_shared_decoding

install_enforcement_guard(POLICIES, EnforcementLevel.MANDATORY)
install_shared_decoding()
PolicyPack(
    name="mlserve",
    description="Versioned ML model services on AWS Lambda: names, routing, lifecycle, removal.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
