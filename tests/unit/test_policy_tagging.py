"""lambda-version-tags-required, called directly."""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.support.pack import (
    FUNCTION,
    UNKNOWN,
    check,
    engine_config,
    pack_module,
    resource_args,
    use_stack_config,
    version_function,
)

tagging = pack_module("tagging")


@pytest.fixture(autouse=True)
def prod_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prod stack: churn v1 deprecated, v2 active."""
    use_stack_config(monkeypatch, engine_config())


@pytest.mark.parametrize(("version", "lifecycle"), [("v1", "deprecated"), ("v2", "active")])
def test_given_function_tagged_as_config_says_when_checked_then_passes(
    version: str, lifecycle: str
) -> None:
    args = resource_args(FUNCTION, version_function("churn", version, lifecycle=lifecycle))
    assert check(tagging.lambda_version_tags_required, args) == []


def test_given_function_missing_tags_when_checked_then_violation_lists_them() -> None:
    # GIVEN a function without the lifecycle and environment tags
    props = version_function("churn", "v2")
    del props["tags"]["mlserve:lifecycle"], props["tags"]["mlserve:environment"]
    # WHEN checked THEN both are named
    assert check(tagging.lambda_version_tags_required, resource_args(FUNCTION, props)) == [
        "function 'resource' lacks the tags mlserve:lifecycle, mlserve:environment"
    ]


def test_given_function_without_tags_when_checked_then_violation() -> None:
    props = version_function("churn", "v2")
    del props["tags"]
    messages = check(tagging.lambda_version_tags_required, resource_args(FUNCTION, props))
    assert len(messages) == 1 and "has no tags" in messages[0]


@pytest.mark.parametrize(
    ("tag", "value", "expected"),
    [
        ("mlserve:lifecycle", "retired", "a retired version has no function"),
        ("mlserve:lifecycle", "deprecated", "mlserve:services lists churn v2 as 'active'"),
        ("mlserve:environment", "dev", "this stack's environment is 'prod'"),
        ("mlserve:api-version", "2", "is not v1, v2"),
        ("mlserve:service", "Churn", "is not a service key"),
    ],
)
def test_given_wrong_tag_value_when_checked_then_violation(
    tag: str, value: str, expected: str
) -> None:
    # GIVEN churn v2 with one tag value that is not true to the stack
    props = version_function("churn", "v2")
    props["tags"][tag] = value
    # WHEN checked THEN the violation names it
    messages = check(tagging.lambda_version_tags_required, resource_args(FUNCTION, props))
    assert any(expected in message for message in messages), messages


def test_given_unknown_tags_when_previewed_then_cannot_run() -> None:
    props = {**version_function("churn", "v2"), "tags": UNKNOWN}
    with pytest.raises(UnknownValueError):
        check(tagging.lambda_version_tags_required, resource_args(FUNCTION, props))


def test_given_one_unknown_tag_when_previewed_then_others_checked_then_unknown() -> None:
    # GIVEN a known wrong environment and an unknown lifecycle tag
    props = version_function("churn", "v2")
    props["tags"]["mlserve:lifecycle"] = UNKNOWN
    props["tags"]["mlserve:environment"] = "dev"
    reported: list[str] = []
    # WHEN checked THEN the wrong environment is reported, the lifecycle is not called missing
    with pytest.raises(UnknownValueError):
        tagging.lambda_version_tags_required.validate(
            resource_args(FUNCTION, props), lambda message, urn=None: reported.append(message)
        )
    assert len(reported) == 1 and "environment is 'prod'" in reported[0]
