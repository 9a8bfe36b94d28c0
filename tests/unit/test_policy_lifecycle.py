"""deprecated-versions-announce-sunset, called directly."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from tests.support.pack import (
    FUNCTION,
    PROD_SERVICES,
    UNKNOWN,
    check,
    engine_config,
    pack_module,
    stack_args,
    stack_resource,
    use_stack_config,
    version_function,
)

lifecycle = pack_module("lifecycle")
ANNOUNCED = {
    "MLSERVE_DEPRECATED_ON": "2026-09-01",
    "MLSERVE_SUNSET_ON": "2027-06-30",
    "MLSERVE_SUCCESSOR_PATH": "/churn/v2",
}


@pytest.fixture(autouse=True)
def prod_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prod stack: churn v1 deprecated (2026-09-01 to 2027-06-30, successor v2)."""
    use_stack_config(monkeypatch, engine_config())


def functions(
    v1_variables: dict[str, str] | None = None, *, with_v2: bool = True
) -> list[PolicyResource]:
    """churn v1 (deprecated) announcing `v1_variables`, and churn v2 unless left out."""
    v1 = version_function(
        "churn", "v1", lifecycle="deprecated", variables=ANNOUNCED if v1_variables is None
        else v1_variables,
    )  # fmt: skip
    resources = [stack_resource(FUNCTION, v1, name="churn-v1")]
    if with_v2:
        resources.append(stack_resource(FUNCTION, version_function("churn", "v2"), name="churn-v2"))
    return resources


def test_given_deprecated_version_with_window_and_deployed_successor_when_checked_then_passes() -> (
    None
):
    assert check(lifecycle.deprecated_versions_announce_sunset, stack_args(functions())) == []


def test_given_successor_not_deployed_when_checked_then_violation() -> None:
    # GIVEN churn v1 deprecated in favour of v2, but no churn_v2 function in the stack
    messages = check(
        lifecycle.deprecated_versions_announce_sunset, stack_args(functions(with_v2=False))
    )
    # THEN the violation names the missing successor
    assert len(messages) == 1
    assert (
        "churn v1 (churn_v1) is deprecated but its successor churn v2 is not deployed"
        in messages[0]
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"MLSERVE_SUNSET_ON": "2026-12-01"}, "the earliest allowed sunset is 2027-02-28"),
        ({"MLSERVE_SUNSET_ON": "someday"}, "is not a YYYY-MM-DD date"),
        ({"MLSERVE_DEPRECATED_ON": "2026-10-01"}, "redeploy so both agree"),
        ({"MLSERVE_SUCCESSOR_PATH": "/churn/v3"}, "successor v3 while mlserve:services lists v2"),
        ({"MLSERVE_SUCCESSOR_PATH": "/other/v2"}, "of its own service"),
    ],
)
def test_given_bad_announcement_when_checked_then_violation(
    change: dict[str, str], expected: str
) -> None:
    # GIVEN churn v1 announcing dates or a successor that break the rule or the config
    messages = check(
        lifecycle.deprecated_versions_announce_sunset,
        stack_args(functions({**ANNOUNCED, **change})),
    )
    assert any(expected in message for message in messages), messages


@pytest.mark.parametrize(
    ("entry_change", "window", "expected"),
    [
        ({"sunsetOn": "2027-01-01"}, None, "less than mlserve:deprecationWindowDays (180)"),
        ({"sunsetOn": "2027-01-01"}, 90, None),
        ({"successor": None}, None, "it names no successor version"),
        ({"sunsetOn": None}, None, "it has no sunsetOn"),
    ],
)
def test_given_config_only_dates_when_checked_then_window_and_successor_rules_apply(
    monkeypatch: pytest.MonkeyPatch,
    entry_change: dict[str, Any],
    window: int | None,
    expected: str | None,
) -> None:
    # GIVEN a function that announces nothing: the stack config is the only source
    services = copy.deepcopy(PROD_SERVICES)
    entry = services["churn"]["versions"]["v1"]
    entry.update(entry_change)
    for key in [key for key, value in entry.items() if value is None]:
        del entry[key]
    use_stack_config(monkeypatch, engine_config(services, window=window))
    # WHEN checked THEN the config's dates and successor are judged
    messages = check(lifecycle.deprecated_versions_announce_sunset, stack_args(functions({})))
    if expected is None:
        assert messages == []
    else:
        assert any(expected in message for message in messages), messages


def test_given_successor_older_than_version_when_checked_then_violation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = copy.deepcopy(PROD_SERVICES)
    services["churn"]["versions"]["v3"] = {"status": "deprecated", "deprecatedOn": "2026-09-01",
                                           "sunsetOn": "2027-06-30", "successor": "v2"}  # fmt: skip
    use_stack_config(monkeypatch, engine_config(services))
    v3 = version_function("churn", "v3", lifecycle="deprecated", variables={
        **ANNOUNCED, "MLSERVE_SUCCESSOR_PATH": "/churn/v2"})  # fmt: skip
    resources = [*functions(), stack_resource(FUNCTION, v3, name="churn-v3")]
    messages = check(lifecycle.deprecated_versions_announce_sunset, stack_args(resources))
    assert messages == ["churn v3 (churn_v3) is deprecated but its successor v2 is not a newer "
                        "major version"]  # fmt: skip


def test_given_active_versions_only_when_checked_then_rule_does_not_apply() -> None:
    resources = [stack_resource(FUNCTION, version_function("churn", "v2"), name="churn-v2")]
    assert check(lifecycle.deprecated_versions_announce_sunset, stack_args(resources)) == []


def test_given_unknown_environment_when_previewed_then_cannot_run() -> None:
    resources = functions()
    resources[0] = stack_resource(
        FUNCTION, {**version_function("churn", "v1"), "environment": UNKNOWN}, name="churn-v1"
    )
    with pytest.raises(UnknownValueError):
        check(lifecycle.deprecated_versions_announce_sunset, stack_args(resources))


def test_given_unknown_successor_function_name_when_previewed_then_cannot_run() -> None:
    # GIVEN churn v2's name unknown (preview): whether the successor is deployed is unknown
    resources = functions(with_v2=False)
    resources.append(
        stack_resource(FUNCTION, {**version_function("churn", "v2"), "name": UNKNOWN}, name="v2")
    )
    with pytest.raises(UnknownValueError):
        check(lifecycle.deprecated_versions_announce_sunset, stack_args(resources))
