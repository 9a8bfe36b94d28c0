"""lambda-function-name-matches-version and lambda-alias-name-matches-version, called directly."""

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

naming = pack_module("naming")


@pytest.fixture(autouse=True)
def dev_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack named `dev-stack` with environment dev and name prefix `dev-`."""
    use_stack_config(monkeypatch, engine_config(environment="dev", name_prefix="dev-"), "dev-stack")


def test_given_function_named_and_tagged_by_rule_when_checked_then_passes() -> None:
    args = resource_args(FUNCTION, version_function("churn", "v2", prefix="dev-"))
    assert check(naming.lambda_function_name_matches_version, args) == []


@pytest.mark.parametrize(
    "name", ["churn_v2", "dev-churn-v2", "dev-churn_2", "dev-Churn_v2", "dev-churn_v0", "dev-_v2"]
)
def test_given_function_name_off_the_rule_when_checked_then_violation(name: str) -> None:
    # GIVEN a function whose name misses the prefix or the `<service>_v<N>` shape
    props = {**version_function("churn", "v2", prefix="dev-"), "name": name}
    # WHEN checked THEN the message names the expected pattern
    messages = check(naming.lambda_function_name_matches_version, resource_args(FUNCTION, props))
    assert len(messages) == 1
    assert "dev-<service>_v<N>" in messages[0]


def test_given_function_tag_disagreeing_with_name_when_checked_then_violation() -> None:
    # GIVEN dev-churn_v2 tagged as v3
    props = version_function("churn", "v2", prefix="dev-")
    props["tags"]["mlserve:api-version"] = "v3"
    # WHEN checked THEN the disagreement is reported
    messages = check(naming.lambda_function_name_matches_version, resource_args(FUNCTION, props))
    assert messages == [
        "function 'dev-churn_v2' is churn v2 by its name but tagged mlserve:api-version='v3'; "
        "the name and the tag must agree"
    ]


def test_given_function_name_over_64_characters_when_checked_then_violation() -> None:
    service = "s" + "x" * 39
    props = version_function(service, "v1", prefix="dev-")
    props["name"] = f"dev-{service}_v1" + "0" * 20  # still the shape, but too long: v1000...
    props["tags"]["mlserve:api-version"] = "v1" + "0" * 20
    messages = check(naming.lambda_function_name_matches_version, resource_args(FUNCTION, props))
    assert any("Lambda allows 64" in message for message in messages)


def test_given_function_without_explicit_name_when_checked_then_violation() -> None:
    props = version_function("churn", "v2", prefix="dev-")
    del props["name"]
    messages = check(naming.lambda_function_name_matches_version, resource_args(FUNCTION, props))
    assert "no explicit name" in messages[0]


def test_given_unknown_function_name_when_previewed_then_cannot_run() -> None:
    props = {**version_function("churn", "v2", prefix="dev-"), "name": UNKNOWN}
    with pytest.raises(UnknownValueError):
        check(naming.lambda_function_name_matches_version, resource_args(FUNCTION, props))


def test_given_alias_named_by_rule_when_checked_then_passes() -> None:
    args = resource_args(ALIAS, {"name": "dev_v2", "functionName": "dev-churn_v2"})
    assert check(naming.lambda_alias_name_matches_version, args) == []


def test_given_alias_of_function_arn_when_checked_then_arn_is_understood() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:dev-churn_v2"
    args = resource_args(ALIAS, {"name": "dev_v2", "functionName": arn})
    assert check(naming.lambda_alias_name_matches_version, args) == []


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("prod_v2", "this stack's mlserve:environment is 'dev'"),
        ("dev_v1", "name it dev_v2"),
        ("dev-v2", "does not follow '<environment>_v<N>'"),
        ("live", "does not follow '<environment>_v<N>'"),
    ],
)
def test_given_alias_name_off_the_rule_when_checked_then_violation(
    alias: str, expected: str
) -> None:
    # GIVEN an alias of dev-churn_v2 with the wrong environment, version or shape
    args = resource_args(ALIAS, {"name": alias, "functionName": "dev-churn_v2"})
    # WHEN checked THEN the message says what is expected
    messages = check(naming.lambda_alias_name_matches_version, args)
    assert len(messages) == 1 and expected in messages[0]


def test_given_stack_without_environment_key_when_checked_then_stack_name_is_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN no mlserve:environment: the program's default is the stack name
    use_stack_config(monkeypatch, engine_config(environment=None, name_prefix="dev-"), "qa")
    # WHEN an alias named after the stack is checked THEN it passes, and dev_v2 does not
    ok = resource_args(ALIAS, {"name": "qa_v2", "functionName": "dev-churn_v2"})
    wrong = resource_args(ALIAS, {"name": "dev_v2", "functionName": "dev-churn_v2"})
    assert check(naming.lambda_alias_name_matches_version, ok) == []
    assert len(check(naming.lambda_alias_name_matches_version, wrong)) == 1


def test_given_unknown_alias_function_when_previewed_then_cannot_run() -> None:
    args = resource_args(ALIAS, {"name": "dev_v2", "functionName": UNKNOWN})
    with pytest.raises(UnknownValueError):
        check(naming.lambda_alias_name_matches_version, args)


def test_given_other_resource_types_when_checked_then_naming_does_not_apply() -> None:
    args = resource_args("aws:iam/role:Role", {"name": "anything"})
    assert check(naming.lambda_function_name_matches_version, args) == []
    assert check(naming.lambda_alias_name_matches_version, args) == []
