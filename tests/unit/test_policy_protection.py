"""active-versions-protected, called directly."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.support.pack import (
    ALIAS,
    FUNCTION,
    UNKNOWN,
    check,
    engine_config,
    pack_module,
    resource_args,
    use_stack_config,
    version_function,
)

protection = pack_module("protection")


@pytest.fixture(autouse=True)
def prod_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prod stack: churn v1 deprecated, v2 active."""
    use_stack_config(monkeypatch, engine_config())


def test_given_protected_active_function_and_alias_when_checked_then_passes() -> None:
    function = resource_args(FUNCTION, version_function("churn", "v2"), protect=True)
    alias = resource_args(ALIAS, {"name": "prod_v2", "functionName": "churn_v2"}, protect=True)
    assert check(protection.active_versions_protected, function) == []
    assert check(protection.active_versions_protected, alias) == []


def test_given_unprotected_deprecated_version_when_checked_then_passes() -> None:
    # GIVEN churn v1, deprecated: unprotected so that it can be retired later
    function = resource_args(FUNCTION, version_function("churn", "v1", lifecycle="deprecated"))
    alias = resource_args(ALIAS, {"name": "prod_v1", "functionName": "churn_v1"})
    assert check(protection.active_versions_protected, function) == []
    assert check(protection.active_versions_protected, alias) == []


def test_given_unprotected_active_function_when_checked_then_violation() -> None:
    args = resource_args(FUNCTION, version_function("churn", "v2"), name="churn-v2")
    assert check(protection.active_versions_protected, args) == [
        "function 'churn-v2' belongs to active version churn v2 and is not protected; set "
        "protect=True so the engine refuses to delete it"
    ]


def test_given_unprotected_active_alias_when_checked_then_violation() -> None:
    args = resource_args(ALIAS, {"name": "prod_v2", "functionName": "churn_v2"}, name="a")
    messages = check(protection.active_versions_protected, args)
    assert len(messages) == 1 and "alias 'a' belongs to active version churn v2" in messages[0]


def test_given_function_tagged_active_but_config_deprecated_when_checked_then_violation() -> None:
    # GIVEN a disagreement: the safe reading is "active", so it must be protected
    args = resource_args(FUNCTION, version_function("churn", "v1", lifecycle="active"))
    assert len(check(protection.active_versions_protected, args)) == 1


def test_given_version_unknown_to_config_and_untagged_when_checked_then_violation() -> None:
    # GIVEN an alias of a function the stack config does not list
    args = resource_args(ALIAS, {"name": "prod_v9", "functionName": "churn_v9"})
    messages = check(protection.active_versions_protected, args)
    assert len(messages) == 1 and "cannot tell whether its version is active" in messages[0]


def test_given_unknown_alias_function_when_previewed_then_cannot_run() -> None:
    args = resource_args(ALIAS, {"name": "prod_v2", "functionName": UNKNOWN})
    with pytest.raises(UnknownValueError):
        check(protection.active_versions_protected, args)


def test_given_unknown_alias_function_but_protected_when_previewed_then_passes() -> None:
    # GIVEN protect=True: nothing else needs to be known
    args = resource_args(ALIAS, {"name": "prod_v2", "functionName": UNKNOWN}, protect=True)
    assert check(protection.active_versions_protected, args) == []
