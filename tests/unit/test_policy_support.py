"""The builders of tests/support/pack.py behave as pulumi-policy's own arguments do."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi_policy import ResourceValidationPolicy
from pulumi_policy.proxy import UnknownValueError

from tests.support.pack import ALIAS, FUNCTION, PACK_DIR, UNKNOWN, check, pack_module, resource_args


def test_given_unknown_prop_when_validator_reads_it_then_it_raises_like_in_the_pack() -> None:
    # GIVEN a resource whose functionVersion is unknown (preview)
    args = resource_args(ALIAS, {"name": "prod_v1", "functionVersion": UNKNOWN})
    # WHEN a validator reads it THEN pulumi-policy's proxy raises, as it does in the real pack
    assert args.props["name"] == "prod_v1"
    with pytest.raises(UnknownValueError):
        args.props["functionVersion"]


def test_given_check_when_policy_reports_then_messages_are_collected() -> None:
    # GIVEN a policy that reports one violation per resource
    policy = ResourceValidationPolicy(
        name="always",
        description="Requires nothing.",
        validate=lambda args, report: report("x", None),
    )
    # WHEN checked THEN the message comes back
    assert check(policy, resource_args(FUNCTION, {})) == ["x"]


def test_given_pack_module_when_imported_then_it_is_the_packs_own_file() -> None:
    # GIVEN the pack folder WHEN a module is imported THEN it comes from there (no name clash)
    assert Path(pack_module("conventions").__file__ or "").parent == PACK_DIR
