"""Rollout under the recording monitor: the CodeDeploy resources and their wiring for each strategy,
the alias left to CodeDeploy, the hook scoped to the stack, and every config rule."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from typing import Any

import pytest

from components.rollout import START_COMMAND
from components.settings import ConfigError, VersionSettings, settings_from_engine_config
from mlserve.analyzer import analyze_run
from mlserve.ledger import policy_config_from_stack_output
from mlserve.offline import PROJECT_ROOT, ProgramRun, run_program
from mlserve.stack_files import stack_config, stack_settings
from mlserve_runtime.conventions import CODEDEPLOY_CONFIGS, HOOK_CHECKS_FILE, hook_function_name
from tests.conftest import TODAY
from tests.support.stacks import edited

GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
CONFIG = "aws:codedeploy/deploymentConfig:DeploymentConfig"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ALIAS = "aws:lambda/alias:Alias"
FUNCTION = "aws:lambda/function:Function"
COMMAND = "command:local:Command"
POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLLOUT_TYPES = (GROUP, CONFIG, COMMAND, "aws:codedeploy/application:Application")
STACK = "prod"


def active_version() -> VersionSettings:
    return next(v for v in stack_settings(STACK, today=date.fromisoformat(TODAY))
                .deployed_versions() if v.status == "active")  # fmt: skip


def with_rollout(rollout: Any, **entry: Any) -> dict[str, str]:
    """The prod config with the first active version rolled out so (and other keys set)."""
    version = active_version()

    def edit(services: dict[str, Any]) -> None:
        services[version.service]["versions"][version.key].update(rollout=rollout, **entry)

    return edited(stack_config(STACK), edit)


def run(config: dict[str, str]) -> ProgramRun:
    result = run_program(config, stack=STACK, today=TODAY)
    assert result.error is None, result.error
    return result


def inputs(run: ProgramRun, type_: str) -> list[dict[str, Any]]:
    return [r.inputs for r in run.of_type(type_)]


def test_given_no_rollout_when_run_then_no_codedeploy_and_aliases_owned_by_the_engine(
    prod_run: ProgramRun,
) -> None:
    assert all(not prod_run.of_type(type_) for type_ in ROLLOUT_TYPES)
    assert not [a for a in inputs(prod_run, ALARM) if "-rollout-" in a["name"]]
    assert all(alias.ignore_changes == () for alias in prod_run.of_type(ALIAS))


@pytest.mark.parametrize(
    "rollout",
    [
        {"strategy": "canary"},
        {"strategy": "canary", "percent": 25, "minutes": 45},
        {"strategy": "linear", "percent": 10, "minutes": 3},
        {"strategy": "linear", "percent": 20, "minutes": 7},
        {"strategy": "allAtOnce"},
    ],
    ids=["canary-predefined", "canary-custom", "linear-predefined", "linear-custom", "all-at-once"],
)
def test_given_rollout_when_run_then_group_config_alarms_hook_and_start_are_wired(
    rollout: dict[str, Any],
) -> None:
    version = active_version()
    result = run(with_rollout(rollout))
    settings = settings_from_engine_config(
        with_rollout(rollout), stack=STACK, project_root=PROJECT_ROOT,
        today=date.fromisoformat(TODAY),
    )  # fmt: skip
    chosen = next(v for v in settings.deployed_versions() if v.rollout is not None)
    assert chosen.rollout is not None
    # THEN the alias is created, and then left to CodeDeploy
    aliases = {r.inputs["name"] + "@" + r.inputs["functionName"]: r for r in result.of_type(ALIAS)}
    owned = aliases[f"{version.alias_name}@{version.function_name}"]
    assert set(owned.ignore_changes) == {"functionVersion", "routingConfig"}
    assert all(a.ignore_changes == () for a in aliases.values() if a is not owned)
    # AND one deployment group, blue/green with traffic control, rolling back on both events
    (group,) = inputs(result, GROUP)
    assert group["deploymentGroupName"] == version.function_name
    assert group["deploymentStyle"] == {"deploymentOption": "WITH_TRAFFIC_CONTROL",
                                        "deploymentType": "BLUE_GREEN"}  # fmt: skip
    assert group["autoRollbackConfiguration"] == {
        "enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
    }  # fmt: skip
    # AND the predefined config when one matches, else a custom one of the same shape
    predefined = CODEDEPLOY_CONFIGS.get(
        (chosen.rollout.strategy, None if rollout["strategy"] == "allAtOnce" else
         chosen.rollout.percent, None if rollout["strategy"] == "allAtOnce" else
         chosen.rollout.minutes)
    )  # fmt: skip
    configs = inputs(result, CONFIG)
    if predefined is not None:
        assert group["deploymentConfigName"] == predefined and configs == []
    else:
        (config,) = configs
        kind = "timeBasedCanary" if rollout["strategy"] == "canary" else "timeBasedLinear"
        assert config["trafficRoutingConfig"][kind] == {
            "interval": rollout["minutes"], "percentage": rollout["percent"]
        }  # fmt: skip
        assert group["deploymentConfigName"] == config["deploymentConfigName"]
    # AND alarms on the new version (ExecutedVersion = the newest published), at most 10
    alarms = [a for a in inputs(result, ALARM) if "-rollout-" in a["name"]]  # not the sunset's
    assert 1 <= len(alarms) <= 10
    assert sorted(group["alarmConfiguration"]["alarms"]) == sorted(a["name"] for a in alarms)
    newest = next(r for r in result.of_type(FUNCTION)
                  if r.inputs["name"] == version.function_name).outputs["version"]  # fmt: skip
    dimensions = [a.get("dimensions") or a["metricQueries"][0]["metric"]["dimensions"]
                  for a in alarms]  # fmt: skip
    resource = f"{version.function_name}:{version.alias_name}"
    assert all(d["FunctionName"] == version.function_name and d["Resource"] == resource
               for d in dimensions)  # fmt: skip
    assert sum(d.get("ExecutedVersion") == newest for d in dimensions) == len(alarms) - 1
    # AND the deployment starts from a command replaced on every new version
    (start,) = inputs(result, COMMAND)
    assert start["create"] == (f"{START_COMMAND} --stack {STACK} {version.service} "
                               f"{version.key} --target {newest}")  # fmt: skip
    assert start["triggers"] == [newest]


def test_given_rollout_when_run_then_hook_and_its_role_are_scoped_to_the_stack() -> None:
    version = active_version()
    result = run(with_rollout({"strategy": "canary"}))
    settings = stack_settings(STACK, today=date.fromisoformat(TODAY))
    hook_name = hook_function_name(settings.name_prefix, settings.environment)
    hook = next(r for r in result.of_type(FUNCTION) if r.inputs["name"] == hook_name)
    assert hook.inputs["handler"] == "hook.handler"
    # the package holds the runtime and what to check of the rolled-out version
    with zipfile.ZipFile(hook.inputs["code"].path) as package:
        checks = json.loads(package.read(HOOK_CHECKS_FILE))
        assert {"hook.py", "mlserve_runtime/contract_check.py"} <= set(package.namelist())
    assert set(checks) == {version.function_name}
    assert set(checks[version.function_name]["routes"]) == {r.key for r in version.routes}
    policies = {r.name: json.loads(r.outputs["policy"]) for r in result.of_type(POLICY)}
    hook_policy = next(p for name, p in policies.items() if name.endswith("hook-policy"))
    by_sid = {s["Sid"]: s for s in hook_policy["Statement"]}
    function_arn = next(r for r in result.of_type(FUNCTION)
                        if r.inputs["name"] == version.function_name).outputs["arn"]  # fmt: skip
    assert by_sid["InvokeRolledOutVersions"]["Resource"] == [f"{function_arn}:*"]
    group_arn = result.of_type(GROUP)[0].outputs["arn"]
    assert by_sid["ReportOnOwnDeployments"]["Resource"] == [group_arn]
    deploy_policy = next(p for name, p in policies.items() if name.endswith("codedeploy-policy"))
    shifts = next(s for s in deploy_policy["Statement"] if s["Sid"] == "ShiftOwnAliases")
    alias = next(
        r for r in result.of_type(ALIAS) if r.inputs["functionName"] == version.function_name
    )
    alias_arn = alias.outputs["arn"]
    assert shifts["Resource"] == [alias_arn]


@pytest.mark.parametrize(
    ("rollout", "entry", "key", "message"),
    [
        ({"strategy": "canary", "percent": 0}, {}, "rollout.percent", "greater than or equal to 1"),
        ({"strategy": "canary", "percent": 100}, {}, "rollout.percent", "less than or equal to 99"),
        ({"strategy": "canary", "minutes": 2881}, {}, "rollout.minutes", "2880"),
        ({"strategy": "linear", "percent": 1, "minutes": 30}, {}, "rollout.minutes",
         "at most 2880 (48 hours)"),
        ({"strategy": "blue"}, {}, "rollout.strategy", "canary"),
        ({"strategy": "canary"}, {"pin": 1}, "pin", "Roll back either with pin"),
        ({"strategy": "canary"}, {"pin": 1, "canary": {"weight": 0.1}}, "canary",
         "both would move the alias"),
        ({"strategy": "canary"}, {"provisionedConcurrency": 2}, "provisionedConcurrency",
         "weighted alias"),
    ],
)  # fmt: skip
def test_given_bad_rollout_when_parsed_then_key_path_and_why(
    rollout: dict[str, Any], entry: dict[str, Any], key: str, message: str
) -> None:
    version = active_version()
    with pytest.raises(ConfigError) as raised:
        settings_from_engine_config(
            with_rollout(rollout, **entry), stack=STACK, project_root=PROJECT_ROOT,
            today=date.fromisoformat(TODAY),
        )  # fmt: skip
    where = f"mlserve:services.{version.service}.versions.{version.key}.{key}"
    assert any(where in line and message in line for line in str(raised.value).splitlines()), str(
        raised.value
    )


def test_given_rollout_on_deprecated_version_when_parsed_then_refused() -> None:
    deprecated = next(v for v in stack_settings(STACK, today=date.fromisoformat(TODAY))
                      .deployed_versions() if v.status == "deprecated")  # fmt: skip

    def edit(services: dict[str, Any]) -> None:
        services[deprecated.service]["versions"][deprecated.key]["rollout"] = {"strategy": "canary"}

    with pytest.raises(ConfigError, match="only active versions roll out"):
        settings_from_engine_config(
            edited(stack_config(STACK), edit), stack=STACK, project_root=PROJECT_ROOT,
            today=date.fromisoformat(TODAY),
        )  # fmt: skip


def test_given_service_rollout_when_run_then_every_active_version_rolls_out_but_deprecated() -> (
    None
):
    version = active_version()

    def edit(services: dict[str, Any]) -> None:
        services[version.service]["rollout"] = {"strategy": "linear"}

    config = edited(stack_config(STACK), edit)
    settings = settings_from_engine_config(config, stack=STACK, project_root=PROJECT_ROOT,
                                           today=date.fromisoformat(TODAY))  # fmt: skip
    expected = {v.function_name for v in settings.services[version.service].deployed_versions
                if v.status == "active"}  # fmt: skip
    result = run(config)
    assert {g["deploymentGroupName"] for g in inputs(result, GROUP)} == expected


@pytest.mark.parametrize("strategy", ["canary", "linear", "allAtOnce"])
def test_given_rollout_when_judged_by_the_pack_then_every_rule_holds(
    strategy: str, prod_run: ProgramRun
) -> None:
    # GIVEN the deployed prod stack's ledger, and the same stack with a rollout added
    ledger = policy_config_from_stack_output(json.loads(json.dumps(prod_run.outputs)), TODAY)
    result = run(with_rollout({"strategy": strategy}))
    # WHEN the real pack judges it THEN nothing blocks (the hook is no version, and is scoped)
    violations = analyze_run(result, policy_config=ledger)
    assert [f"{v.policy_name}: {v.message}" for v in violations if v.mandatory] == []
