"""Config parsing: defaults, every documented error with its key path, lifecycle rules."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any, get_args

import pytest

from components.settings import ConfigError, Settings, parse_settings, settings_from_engine_config
from components.settings.engine_config import ENVIRONMENT_STRING_LIMIT
from components.settings.model import ApiSettings
from mlserve_runtime.conventions import API_LAYOUTS

TODAY = date(2026, 11, 27)


def base_config() -> dict[str, Any]:
    """A valid config in the shape users write (keys without the `mlserve:` prefix)."""
    return {
        "services": {
            "churn": {
                "versions": {
                    "v1": {
                        "code": "svc/v1",
                        "status": "deprecated",
                        "deprecatedOn": "2026-09-01",
                        "sunsetOn": "2027-06-30",
                        "successor": "v2",
                        "changelog": "First release.",
                    },
                    "v2": {"code": "svc/v2", "status": "active", "pin": 3},
                }
            }
        }
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project root whose handler folders exist."""
    for version in ("v1", "v2", "v3"):
        folder = tmp_path / "svc" / version
        folder.mkdir(parents=True)
        (folder / "app.py").write_text("def handler(event, context):\n    return {}\n")
    return tmp_path


def parse(root: Path, config: dict[str, Any], today: date = TODAY, stack: str = "prod") -> Settings:
    return parse_settings(config, stack=stack, project_root=root, today=today)


def problems(root: Path, config: dict[str, Any], today: date = TODAY) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(root, config, today)
    return caught.value.problems


def version(config: dict[str, Any], key: str) -> dict[str, Any]:
    return config["services"]["churn"]["versions"][key]


def test_given_minimal_config_when_parsed_then_defaults_apply(root: Path) -> None:
    settings = parse(root, base_config())
    v2 = settings.services["churn"].versions["v2"]
    assert settings.environment == "prod"  # the stack name
    assert settings.name_prefix == ""
    assert settings.deprecation_window_days == 180
    assert settings.log_retention_days == 30
    assert (v2.runtime, v2.architecture, v2.handler) == ("python3.13", "arm64", "app.handler")
    assert (v2.memory_mb, v2.timeout_seconds) == (512, 10)
    assert settings.services["churn"].routes is None  # the code's declaration, else the default
    assert [r.key for r in v2.routes] == ["POST /predict"]
    assert (v2.function_name, v2.alias_name) == ("churn_v2", "prod_v2")
    assert settings.api.name == "mlserve-prod"
    assert (settings.api.throttle.burst_limit, settings.api.throttle.rate_limit) == (100, 50)


def test_given_version_overrides_when_parsed_then_they_beat_service_defaults(root: Path) -> None:
    config = base_config()
    config["services"]["churn"].update(memoryMb=1024, runtime="python3.11")
    version(config, "v2").update(memoryMb=2048, architecture="x86_64", timeoutSeconds=20)
    settings = parse(root, config)
    v1, v2 = settings.services["churn"].versions.values()
    assert (v1.memory_mb, v1.runtime, v1.architecture) == (1024, "python3.11", "arm64")
    assert (v2.memory_mb, v2.runtime, v2.architecture, v2.timeout_seconds) == (
        2048, "python3.11", "x86_64", 20,
    )  # fmt: skip


def test_given_prefix_and_environment_when_parsed_then_names_use_them(root: Path) -> None:
    config = {**base_config(), "namePrefix": "dev-", "environment": "staging"}
    v2 = parse(root, config).services["churn"].versions["v2"]
    assert (v2.function_name, v2.alias_name) == ("dev-churn_v2", "staging_v2")


@pytest.mark.parametrize(
    ("edit", "expected_path", "expected_text"),
    [
        (lambda c: c.update(colour="blue"), "mlserve:colour", "unknown key"),
        (
            lambda c: c["services"]["churn"].update(owner="x"),
            "mlserve:services.churn.owner",
            "unknown key",
        ),
        (
            lambda c: version(c, "v2").update(pinned=3),
            "mlserve:services.churn.versions.v2.pinned",
            "unknown key",
        ),
        (
            lambda c: c["services"].update({"Churn_Model": c["services"]["churn"]}),
            "mlserve:services.Churn_Model",
            "service key",
        ),
        (
            lambda c: c["services"]["churn"]["versions"].update({"2": {"status": "active"}}),
            "mlserve:services.churn.versions.2",
            "version key",
        ),
        (
            lambda c: version(c, "v2").update(code="svc/missing"),
            "mlserve:services.churn.versions.v2.code",
            "does not exist",
        ),
        (
            lambda c: version(c, "v2").update(pin=0),
            "mlserve:services.churn.versions.v2.pin",
            "positive integer",
        ),
        (
            lambda c: version(c, "v2").update(pin="3"),
            "mlserve:services.churn.versions.v2.pin",
            "valid integer",
        ),
        (
            lambda c: version(c, "v2").update(pin=2.5),
            "mlserve:services.churn.versions.v2.pin",
            "valid integer",
        ),
        (
            lambda c: version(c, "v1").update(successor="v9"),
            "mlserve:services.churn.versions.v1.successor",
            "is not a version of churn",
        ),
        (
            lambda c: version(c, "v2").update(status="beta"),
            "mlserve:services.churn.versions.v2.status",
            "one of 'active', 'deprecated', 'retired'",
        ),
        (
            lambda c: version(c, "v2").update(changelog="x" * 257),
            "mlserve:services.churn.versions.v2.changelog",
            "256",
        ),
        (
            lambda c: version(c, "v2").update(memoryMb=64),
            "mlserve:services.churn.versions.v2.memoryMb",
            "greater than or equal to 128",
        ),
        (
            lambda c: c.update(logRetentionDays=10),
            "mlserve:logRetentionDays",
            "allowed: 1, 3, 5",
        ),
        (
            lambda c: version(c, "v2").update(handler="main.run"),
            "mlserve:services.churn.versions.v2.handler",
            "does not name a function",
        ),
        (
            lambda c: version(c, "v2").update(environment={"MLSERVE_LIFECYCLE": "x"}),
            "mlserve:services.churn.versions.v2.environment.MLSERVE_LIFECYCLE",
            "reserved",
        ),
        (lambda c: c.update(environment="Prod!"), "mlserve:environment", "not an environment name"),
        (
            lambda c: version(c, "v2").update(environment={"X": "1"}),
            "mlserve:services.churn.versions.v2.environment.X",
            "2 characters or more",
        ),
        (
            lambda c: version(c, "v2").update(environment={"BLOB": "x" * 4000}),
            "mlserve:services.churn.versions.v2.environment",
            "Lambda allows 4096 in all",
        ),
        (
            lambda c: c["services"]["churn"].update(routes=["POST /" + "p" * 129]),
            "mlserve:services.churn.routes.0",
            "longer than 128 characters",
        ),
        (
            lambda c: c.update(
                api={
                    "domain": {
                        "name": "models.example.com",
                        "hostedZoneId": "example.com",
                        "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/1",
                    }
                }
            ),
            "mlserve:api.domain.hostedZoneId",
            "is not a Route 53 hosted zone id",
        ),
    ],
    ids=[
        "unknown-top-level-key",
        "unknown-service-key",
        "unknown-version-key",
        "bad-service-key",
        "bad-version-key",
        "missing-code-folder",
        "pin-zero",
        "pin-string",
        "pin-float",
        "successor-missing",
        "unknown-status",
        "changelog-too-long",
        "memory-too-small",
        "log-retention-not-cloudwatch",
        "handler-not-found",
        "reserved-env-var",
        "bad-environment",
        "env-var-one-character",
        "environment-over-4kb",
        "route-path-too-long",
        "hosted-zone-id-not-an-id",
    ],
)
def test_given_bad_config_when_parsed_then_error_names_key_path(
    root: Path, edit: Any, expected_path: str, expected_text: str
) -> None:
    config = base_config()
    edit(config)
    found = problems(root, config)
    matching = [p for p in found if p.startswith(expected_path + ":")]
    assert matching, f"no problem at {expected_path}: {found}"
    assert expected_text in matching[0]


def test_given_certificate_of_another_region_when_parsed_then_both_regions_are_named(
    root: Path,
) -> None:
    config = {
        **base_config(),
        "api": {"domain": {"name": "models.example.com",
                           "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/1"}},
    }  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        parse_settings(config, stack="prod", project_root=root, today=TODAY, region="us-east-1")
    (problem,) = caught.value.problems
    assert problem.startswith("mlserve:api.domain.certificateArn:")
    assert "eu-west-1" in problem and "us-east-1" in problem
    # the same certificate in the stack's own region is fine
    config["api"]["domain"]["certificateArn"] = config["api"]["domain"]["certificateArn"].replace(
        "eu-west-1", "us-east-1"
    )
    parse_settings(config, stack="prod", project_root=root, today=TODAY, region="us-east-1")


def test_given_secret_key_when_value_is_bad_then_no_problem_echoes_it(root: Path) -> None:
    for edit, where, value in (
        ({"handler": "secret-token-123"}, "handler", "secret-token-123"),
        ({"environment": {"K1": 7777}}, "environment.K1", "7777"),
    ):
        config = base_config()
        version(config, "v2").update(edit)
        with pytest.raises(ConfigError) as caught:
            parse_settings(
                config, stack="prod", project_root=root, today=TODAY,
                secret_keys=frozenset({"mlserve:services"}),
            )  # fmt: skip
        text = str(caught.value)
        assert value not in text
        assert f"mlserve:services.churn.versions.v2.{where}:" in text
        # the same mistake in a plain config shows the value, which helps
        with pytest.raises(ConfigError) as plain:
            parse(root, config)
        assert value in str(plain.value)


def test_given_function_name_over_64_when_parsed_then_error_says_limit(root: Path) -> None:
    config = base_config()
    config["namePrefix"] = "abcdefghijklmnopqrstuvwxyz-"
    config["services"]["s" + "x" * 39] = copy.deepcopy(config["services"]["churn"])
    found = problems(root, config)
    assert any(
        p.startswith("mlserve:services.s" + "x" * 39 + ".versions.v2:") and "Lambda allows 64" in p
        for p in found
    ), found


def test_given_longest_names_allowed_when_parsed_then_role_name_fits(root: Path) -> None:
    config = base_config()
    config["namePrefix"] = "abcdefghijkl"  # 12 + 40 + 3 = 55 <= 64
    config["services"] = {"s" + "x" * 39: config["services"]["churn"]}
    settings = parse(root, config)
    v2 = settings.services["s" + "x" * 39].versions["v2"]
    assert len(v2.function_name) <= 64
    assert len(f"{v2.logical_name}-role") + 8 <= 64


def test_given_several_errors_when_parsed_then_all_are_reported_together(root: Path) -> None:
    config = base_config()
    version(config, "v2").update(pin=-1, changelog="y" * 300)
    version(config, "v1").update(successor="v7")
    found = problems(root, config)
    assert len(found) >= 3
    message = str(ConfigError(found))
    assert "3 problem(s)" in message or f"{len(found)} problem(s)" in message


def test_given_two_structural_errors_when_parsed_then_both_are_reported(root: Path) -> None:
    config = base_config()
    config["colour"] = "blue"
    version(config, "v2")["status"] = "beta"
    found = problems(root, config)
    assert any(p.startswith("mlserve:colour:") for p in found)
    assert any(p.startswith("mlserve:services.churn.versions.v2.status:") for p in found)


# Lifecycle rules (issue: version lifecycle)


def test_given_deprecated_without_dates_when_parsed_then_each_missing_key_is_named(
    root: Path,
) -> None:
    config = base_config()
    config["services"]["churn"]["versions"]["v1"] = {"code": "svc/v1", "status": "deprecated"}
    found = problems(root, config)
    for key in ("deprecatedOn", "sunsetOn", "successor"):
        assert any(p.startswith(f"mlserve:services.churn.versions.v1.{key}:") for p in found)


def test_given_sunset_inside_window_when_parsed_then_error_gives_earliest_date(root: Path) -> None:
    config = base_config()
    version(config, "v1")["sunsetOn"] = "2026-12-01"
    found = problems(root, config)
    assert any(
        p.startswith("mlserve:services.churn.versions.v1.sunsetOn:") and "2027-02-28" in p
        for p in found
    ), found


def test_given_shorter_window_when_parsed_then_earlier_sunset_is_accepted(root: Path) -> None:
    config = {**base_config(), "deprecationWindowDays": 90}
    version(config, "v1")["sunsetOn"] = "2026-12-01"
    assert parse(root, config).services["churn"].versions["v1"].sunset_on == date(2026, 12, 1)


def test_given_successor_of_lower_major_when_parsed_then_rejected(root: Path) -> None:
    config = base_config()
    version(config, "v1").update(status="active", successor=None)
    version(config, "v2").update(
        status="deprecated", pin=None, deprecatedOn="2026-09-01", sunsetOn="2027-06-30",
        successor="v1",
    )  # fmt: skip
    found = problems(root, config)
    assert any(
        "mlserve:services.churn.versions.v2.successor:" in p and "higher" in p for p in found
    )


def test_given_retired_successor_when_parsed_then_rejected(root: Path) -> None:
    config = base_config()
    config["services"]["churn"]["versions"]["v2"] = {
        "status": "retired", "deprecatedOn": "2025-01-01", "sunsetOn": "2025-09-01",
        "successor": "v3",
    }  # fmt: skip
    config["services"]["churn"]["versions"]["v3"] = {"code": "svc/v3", "status": "active"}
    version(config, "v1")["successor"] = "v2"
    found = problems(root, config)
    assert any("versions.v1.successor:" in p and "retired" in p for p in found), found


def test_given_retired_before_sunset_when_parsed_then_rejected_with_date(root: Path) -> None:
    config = base_config()
    version(config, "v1")["status"] = "retired"
    found = problems(root, config)
    assert any(
        p.startswith("mlserve:services.churn.versions.v1.status:") and "2027-06-30" in p
        for p in found
    ), found


def test_given_retired_after_sunset_when_parsed_then_accepted_without_code(root: Path) -> None:
    config = base_config()
    version(config, "v1")["status"] = "retired"
    del version(config, "v1")["code"]
    settings = parse(root, config, today=date(2027, 7, 1))
    v1 = settings.services["churn"].versions["v1"]
    assert not v1.deployed
    assert [v.key for v in settings.services["churn"].deployed_versions] == ["v2"]


def test_given_active_past_announced_deprecation_when_parsed_then_warns(root: Path) -> None:
    config = base_config()
    version(config, "v2").update(deprecatedOn="2026-11-01")
    config["services"]["churn"]["versions"]["v3"] = {"code": "svc/v3", "status": "active"}
    settings = parse(root, config)
    assert any(
        "versions.v2.status" in w and "mark churn v2 deprecated" in w for w in settings.warnings
    )


def test_given_deprecated_past_sunset_when_parsed_then_warns_to_retire(root: Path) -> None:
    settings = parse(root, base_config(), today=date(2027, 7, 1))
    assert any("versions.v1.status" in w and "mark it retired" in w for w in settings.warnings)


def test_given_deprecated_before_sunset_when_parsed_then_no_warning(root: Path) -> None:
    assert parse(root, base_config()).warnings == ()


@pytest.mark.parametrize("key", ["pin", "canary"])
def test_given_pin_or_canary_on_deprecated_when_parsed_then_rejected_with_reason(
    root: Path, key: str
) -> None:
    config = base_config()
    version(config, "v1")[key] = 2 if key == "pin" else {"weight": 0.1}
    found = problems(root, config)
    assert any(
        p.startswith(f"mlserve:services.churn.versions.v1.{key}:") and "immutable" in p
        for p in found
    ), found


def test_given_canary_without_pin_when_parsed_then_rejected(root: Path) -> None:
    config = base_config()
    version(config, "v2").update(pin=None, canary={"weight": 0.2})
    found = problems(root, config)
    assert any("versions.v2.canary:" in p and "requires pin" in p for p in found), found


@pytest.mark.parametrize("weight", [0, 1, 1.5, -0.1])
def test_given_canary_weight_out_of_range_when_parsed_then_rejected(
    root: Path, weight: float
) -> None:
    config = base_config()
    version(config, "v2")["canary"] = {"weight": weight}
    found = problems(root, config)
    assert any("versions.v2.canary.weight:" in p for p in found), found


def test_given_canary_with_provisioned_concurrency_when_parsed_then_explains_aws_limit(
    root: Path,
) -> None:
    config = base_config()
    version(config, "v2").update(canary={"weight": 0.1}, provisionedConcurrency=2)
    found = problems(root, config)
    assert any("provisionedConcurrency:" in p and "weighted routing" in p for p in found), found


def test_given_valid_canary_when_parsed_then_weight_kept(root: Path) -> None:
    config = base_config()
    version(config, "v2")["canary"] = {"weight": 0.25}
    assert parse(root, config).services["churn"].versions["v2"].canary_weight == 0.25


# API keys (issue: versioned HTTP API)


@pytest.mark.parametrize(
    ("routes", "text"),
    [
        (["predict"], "is not 'METHOD /path'"),
        (["post /predict"], "is not 'METHOD /path'"),
        (["POST /predict", "POST /predict"], "duplicate route"),
        (["GET /health"], "reserved"),
        (["POST /a.b", "POST /a-b"], "collide"),
    ],
)
def test_given_bad_routes_when_parsed_then_error_names_route_index(
    root: Path, routes: list[str], text: str
) -> None:
    config = base_config()
    config["services"]["churn"]["routes"] = routes
    found = problems(root, config)
    assert any(p.startswith("mlserve:services.churn.routes.") and text in p for p in found), found


def test_given_consumer_of_unknown_version_when_parsed_then_rejected(root: Path) -> None:
    config = base_config()
    config["services"]["churn"].update(
        auth="iam",
        consumers=[{"role": "arn:aws:iam::123456789012:role/app", "versions": ["v2", "v5"]}],
    )
    found = problems(root, config)
    assert any(
        p.startswith("mlserve:services.churn.consumers.0.versions:") and "'v5'" in p for p in found
    ), found


def test_given_consumer_with_bad_role_when_parsed_then_rejected(root: Path) -> None:
    config = base_config()
    config["services"]["churn"].update(
        auth="iam", consumers=[{"role": "app-role", "versions": ["v2"]}]
    )
    found = problems(root, config)
    assert any(p.startswith("mlserve:services.churn.consumers.0.role:") for p in found), found


def test_given_consumers_without_iam_auth_when_parsed_then_rejected(root: Path) -> None:
    config = base_config()
    config["services"]["churn"]["consumers"] = [
        {"role": "arn:aws:iam::123456789012:role/app", "versions": ["v2"]}
    ]
    found = problems(root, config)
    assert any(
        p.startswith("mlserve:services.churn.consumers:") and "auth: iam" in p for p in found
    )


def test_given_too_many_routes_when_parsed_then_error_names_counts(root: Path) -> None:
    config = {
        "services": {
            f"m{s}": {
                "versions": {f"v{v}": {"code": "svc/v1", "status": "active"} for v in range(1, 11)}
            }
            for s in range(11)
        }
    }
    found = problems(root, config)
    assert any("330 routes and 110 integrations" in p and "300 routes" in p for p in found), found
    assert any("mlserve:api.layout: perService" in p for p in found), found


def test_given_many_services_per_service_when_parsed_then_quotas_count_per_api(root: Path) -> None:
    # GIVEN 11 services of 10 versions (330 routes: over one API's quota) on their own APIs
    config: dict[str, Any] = {
        "services": {
            f"m{s}": {
                "versions": {f"v{v}": {"code": "svc/v1", "status": "active"} for v in range(1, 11)}
            }
            for s in range(11)
        },
        "api": {"layout": "perService"},
    }
    # WHEN parsed THEN it fits (30 routes per API), with a warning that there is no one base URL
    settings = parse(root, config)
    assert {settings.api.api_of(s) for s in settings.services} == {
        f"mlserve-prod-m{s}" for s in range(11)
    }
    assert any("api.layout" in w and "mlserve:api.domain" in w for w in settings.warnings)
    # and one service over the quota on its own API is named, without the layout advice
    config["services"]["m3"]["versions"] = {
        f"v{v}": {"code": "svc/v1", "status": "active"} for v in range(1, 102)
    }
    found = problems(root, config)
    (over,) = [p for p in found if "integrations" in p]
    assert over.startswith("mlserve:services.m3:") and "mlserve-prod-m3" in over, over
    assert "303 routes and 101 integrations" in over and "layout" not in over, over


def test_given_unknown_layout_when_parsed_then_error_lists_the_layouts(root: Path) -> None:
    config = {**base_config(), "api": {"layout": "perVersion"}}
    found = problems(root, config)
    assert any(p.startswith("mlserve:api.layout:") and "'single'" in p and "'perService'" in p
               for p in found), found  # fmt: skip


def test_given_timeout_over_api_limit_when_parsed_then_warns(root: Path) -> None:
    config = base_config()
    version(config, "v2")["timeoutSeconds"] = 60
    settings = parse(root, config)
    assert any("versions.v2.timeoutSeconds" in w and "30s" in w for w in settings.warnings)


@pytest.mark.parametrize("code", ["/etc", "../outside"])
def test_given_code_outside_project_when_parsed_then_rejected(root: Path, code: str) -> None:
    config = base_config()
    version(config, "v2")["code"] = code
    found = problems(root, config)
    assert any(p.startswith("mlserve:services.churn.versions.v2.code:") for p in found), found


# Every problem at once, in the user's words (issue: one source of truth per fact)


def test_given_six_problems_at_different_depths_when_parsed_then_all_six_are_told_at_once(
    root: Path,
) -> None:
    # GIVEN problems at the top level, in the api, in a service and in two versions, structural
    # (unknown key, wrong type) and semantic (dates, reserved variable) mixed
    config = base_config()
    config["logRetentionDays"] = 10  # top level: not a CloudWatch retention
    config["api"] = {"throttle": {"burstLimit": "many"}}  # api: wrong type
    config["services"]["churn"]["memoryMB"] = 512  # service: unknown key (a typo)
    version(config, "v2").update(pin=0)  # version: a constraint
    version(config, "v1").update(sunsetOn="2026-10-01")  # version: before its window
    version(config, "v2").update(environment={"AWS_REGION": "x"})  # version: reserved variable
    found = problems(root, config)
    # THEN one round tells all six, each at its key path
    expected = [
        "mlserve:logRetentionDays:",
        "mlserve:api.throttle.burstLimit:",
        "mlserve:services.churn.memoryMB:",
        "mlserve:services.churn.versions.v2.pin:",
        "mlserve:services.churn.versions.v2.environment.AWS_REGION:",
    ]
    for where in expected:
        assert any(p.startswith(where) for p in found), (where, found)
    # the window rule needs the whole stack; it runs once the rest is readable
    fixed = base_config()
    fixed["services"]["churn"]["memoryMB"] = 512
    version(fixed, "v1").update(sunsetOn="2026-10-01")
    version(fixed, "v2").update(pin=0)
    again = problems(root, fixed)
    assert any(p.startswith("mlserve:services.churn.versions.v1.sunsetOn:") for p in again), again
    assert len(again) == 3


def test_given_one_bad_version_when_parsed_then_the_other_versions_are_still_checked(
    root: Path,
) -> None:
    # GIVEN a structural error in v2 and a lifecycle error in v1
    config = base_config()
    version(config, "v2").update(memoryMb="lots")
    version(config, "v1").pop("successor")
    found = problems(root, config)
    # THEN both are told, and v2 being unreadable does not make v1's successor rule misfire
    assert any(p.startswith("mlserve:services.churn.versions.v2.memoryMb:") for p in found)
    assert any(p.startswith("mlserve:services.churn.versions.v1.successor:") for p in found)
    assert len(found) == 2, found


@pytest.mark.parametrize(
    ("edit", "where", "suggestion"),
    [
        (lambda c: c["services"]["churn"].update(memoryMB=1), "services.churn.memoryMB",
         "memoryMb"),
        (lambda c: version(c, "v2").update(sunsetON="x"), "services.churn.versions.v2.sunsetON",
         "sunsetOn"),
        (lambda c: c.update(namePrefx="x"), "namePrefx", "namePrefix"),
        (lambda c: c.update(api={"domian": {}}), "api.domian", "domain"),
    ],
    ids=["service", "version", "top-level", "api"],
)  # fmt: skip
def test_given_misspelt_key_when_parsed_then_the_problem_suggests_the_key(
    root: Path, edit: Any, where: str, suggestion: str
) -> None:
    config = base_config()
    edit(config)
    (problem,) = [p for p in problems(root, config) if p.startswith(f"mlserve:{where}:")]
    assert f"did you mean `{suggestion}`?" in problem


def test_given_misspelt_status_when_parsed_then_the_value_is_suggested(root: Path) -> None:
    config = base_config()
    version(config, "v2")["status"] = "actve"
    (problem,) = problems(root, config)
    assert "did you mean 'active'?" in problem


@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c["services"].update(churn=[1, 2]),
        lambda c: c["services"]["churn"]["versions"].update(v2="active"),
        lambda c: c["services"]["churn"].update(consumers=["arn"]),
        lambda c: version(c, "v2").update(canary=0.1),
        lambda c: c.update(api=[]),
    ],
)
def test_given_wrong_shapes_when_parsed_then_no_internal_class_name_is_shown(
    root: Path, edit: Any
) -> None:
    config = base_config()
    edit(config)
    text = "\n".join(problems(root, config))
    internal = ("Settings", "Model", "Canary", "Consumer", "dict_type", "model_type", "function-")
    assert not any(name in text for name in internal), text
    assert "mlserve:" in text


@pytest.mark.parametrize(
    ("runtime", "today", "kind", "text"),
    [
        ("python3.11", date(2027, 1, 1), "warning", "deprecates python3.11 on 2027-06-30"),
        ("python3.10", date(2026, 12, 1), "warning", "blocks new functions on it since 2026-11-30"),
        ("python3.10", date(2027, 1, 15), "problem", "blocks updates of python3.10 functions"),
        ("python3.13", date(2026, 12, 1), None, ""),
    ],
)
def test_given_runtime_near_lambdas_deprecation_when_parsed_then_told_in_time(
    root: Path, runtime: str, today: date, kind: str | None, text: str
) -> None:
    config = base_config()
    config["services"]["churn"]["runtime"] = runtime
    version(config, "v1")["status"] = "active"  # no sunset in the way of a later `today`
    if kind == "problem":
        assert any(p.startswith("mlserve:services.churn.runtime:") and text in p
                   for p in problems(root, config, today))  # fmt: skip
        return
    settings = parse(root, config, today)
    notes = [w for w in settings.warnings if w.startswith("mlserve:services.churn.runtime:")]
    assert (notes != []) == (kind == "warning"), settings.warnings
    assert all(text in note for note in notes)


def declare(root: Path, folder: str, routes: list[str], service: str = "churn") -> None:
    declared = {route: {"request": "Req", "response": "Resp"} for route in routes}
    (root / folder / "contract.py").write_text(
        f"SURFACE = {{'service': {service!r}, 'version': {folder.rsplit('/', 1)[1]!r}, "
        f"'routes': {declared!r}}}\n"
    )


def test_given_code_declaring_its_surface_when_parsed_then_its_routes_are_the_versions(
    root: Path,
) -> None:
    declare(root, "svc/v2", ["POST /predict", "POST /explain"])
    settings = parse(root, base_config())
    v1, v2 = settings.services["churn"].versions.values()
    assert [r.key for r in v2.routes] == ["POST /predict", "POST /explain"]
    assert [r.key for r in v2.all_routes][-2:] == ["GET /health", "GET /metadata"]
    assert v1.surface is None and [r.key for r in v1.routes] == ["POST /predict"]


def test_given_config_routes_the_code_does_not_serve_when_parsed_then_rejected(
    root: Path,
) -> None:
    declare(root, "svc/v2", ["POST /predict"])
    config = base_config()
    config["services"]["churn"]["routes"] = ["POST /predict", "POST /explain"]
    (problem,) = problems(root, config)
    assert problem.startswith("mlserve:services.churn.routes:")
    assert "v2's code declares its routes (POST /predict)" in problem


def test_given_unreadable_declaration_when_parsed_then_the_code_key_says_why(root: Path) -> None:
    (root / "svc" / "v2" / "contract.py").write_text("SURFACE = {'service': NAME}\n")
    (problem,) = problems(root, base_config())
    assert problem.startswith("mlserve:services.churn.versions.v2.code:")
    assert "literal" in problem


def test_given_layouts_when_compared_then_settings_and_conventions_name_the_same() -> None:
    # the settings model's Literal and the conventions the pack reads must not drift
    assert get_args(ApiSettings.model_fields["layout"].annotation) == API_LAYOUTS


def test_given_config_over_one_environment_string_when_parsed_then_it_warns(root: Path) -> None:
    # GIVEN engine configs of one-version services (each on its own API, so no quota stops them)
    # just under and just over what one environment string holds on Linux
    def engine(count: int) -> dict[str, str]:
        services = {f"m{n:05d}": {"versions": {"v1": {"code": "svc/v1", "status": "active"}}}
                    for n in range(count)}  # fmt: skip
        return {"mlserve:api": json.dumps({"layout": "perService"}),
                "mlserve:services": json.dumps(services)}  # fmt: skip

    def passed(config: dict[str, str]) -> int:
        return len("PULUMI_CONFIG=" + json.dumps(config, separators=(",", ":"))) + 1

    count, over = 1, 2  # the most services that fit: passed(engine(count)) fits, over does not
    while passed(engine(over)) <= ENVIRONMENT_STRING_LIMIT:
        count, over = over, over * 2
    while over - count > 1:
        middle = (count + over) // 2
        count, over = (middle, over) if passed(engine(middle)) <= ENVIRONMENT_STRING_LIMIT else (
            count, middle)  # fmt: skip
    for services, warns in ((count, False), (count + 1, True)):
        # WHEN parsed THEN only the one over the limit warns, saying what fails and why
        settings = settings_from_engine_config(engine(services), stack="prod", project_root=root,
                                               today=TODAY)  # fmt: skip
        found = [w for w in settings.warnings if "PULUMI_CONFIG" in w]
        assert bool(found) is warns, (services, found)
        assert not warns or "argument list too long" in found[0]
