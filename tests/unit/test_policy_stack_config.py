"""The pack's reading of PULUMI_CONFIG, and mlserve-config-readable, called directly."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.support.pack import (
    PROD_SERVICES,
    STACK,
    UNKNOWN,
    check,
    engine_config,
    pack_module,
    resource_args,
    use_stack_config,
)

stack_config = pack_module("stack_config")


def test_given_engine_config_when_read_then_program_defaults_apply() -> None:
    # GIVEN a config without environment, prefix or window
    config = stack_config.read_stack_config(engine_config(environment=None), "staging")
    # THEN the environment is the stack name, no prefix, a 180-day window
    assert (config.environment, config.name_prefix, config.deprecation_window_days) == (
        "staging", "", 180,
    )  # fmt: skip
    assert config.problems == ()
    v1 = config.version("churn", "v1")
    assert (v1.status, v1.deprecated_on, v1.sunset_on, v1.successor, v1.major) == (
        "deprecated", date(2026, 9, 1), date(2027, 6, 30), "v2", 1,
    )  # fmt: skip


def test_given_explicit_settings_when_read_then_they_win() -> None:
    config = stack_config.read_stack_config(
        engine_config(environment="prod", name_prefix="p-", window=90), "prod-eu"
    )
    assert (config.environment, config.name_prefix, config.deprecation_window_days) == (
        "prod", "p-", 90,
    )  # fmt: skip


def test_given_old_config_key_form_when_read_then_understood() -> None:
    config = stack_config.read_stack_config(
        {"mlserve:config:services": json.dumps(PROD_SERVICES)}, "prod"
    )
    assert config.version("churn", "v2").status == "active"


@pytest.mark.parametrize(
    ("config", "stack", "expected"),
    [
        ({"mlserve:environment": "prod"}, "prod", "mlserve:services: not set"),
        ({"mlserve:services": "{not json"}, "prod", "not a mapping of services"),
        ({**engine_config(), "mlserve:environment": "Prod"}, "prod", "mlserve:environment"),
        (engine_config(environment=None), "Prod_Stack", "the stack name"),
        ({**engine_config(), "mlserve:namePrefix": "UPPER"}, "prod", "mlserve:namePrefix"),
        ({**engine_config(), "mlserve:deprecationWindowDays": "soon"}, "prod", "number of days"),
        (
            engine_config({"churn": {"versions": {"v1": {"status": "gone"}}}}),
            "prod",
            "mlserve:services.churn.versions.v1.status",
        ),
        (
            engine_config(
                {"churn": {"versions": {"v1": {"status": "active", "sunsetOn": "soon"}}}}
            ),
            "prod",
            "is not a YYYY-MM-DD date",
        ),
    ],
)
def test_given_unreadable_config_when_checked_then_violation_names_the_key(
    monkeypatch: pytest.MonkeyPatch, config: dict[str, str], stack: str, expected: str
) -> None:
    # GIVEN a config the pack cannot read fully
    use_stack_config(monkeypatch, config, stack)
    # WHEN the stack resource is analyzed THEN the problem is a mandatory violation
    messages = check(stack_config.mlserve_config_readable, resource_args(STACK, {}))
    assert any(expected in message for message in messages), messages


def test_given_readable_config_when_checked_then_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_stack_config(monkeypatch, engine_config())
    assert check(stack_config.mlserve_config_readable, resource_args(STACK, {})) == []


def test_given_no_pulumi_config_when_checked_then_violation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    monkeypatch.setenv("PULUMI_STACK", "prod")
    messages = check(stack_config.mlserve_config_readable, resource_args(STACK, {}))
    assert any("mlserve:services: not set" in message for message in messages)


def test_given_pulumi_config_not_json_when_checked_then_violation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG", "[1, 2")
    assert check(stack_config.mlserve_config_readable, resource_args(STACK, {})) == [
        "PULUMI_CONFIG is not a JSON object"
    ]


def test_given_unknown_stack_outputs_when_previewed_then_config_still_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a preview where the stack resource's outputs are unknown
    use_stack_config(monkeypatch, engine_config())
    # WHEN checked THEN the rule needs none of them and gives a verdict
    args = resource_args(STACK, {"versions": UNKNOWN, "apiUrl": UNKNOWN})
    assert check(stack_config.mlserve_config_readable, args) == []
