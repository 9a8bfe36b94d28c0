"""The real __main__.py under the recording mock monitor: functions, aliases, roles, logs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.output import Unknown

from mlserve.offline import AwsMocks, ProgramRun, run_program, stack_config
from tests.stacks import Services, edited

FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
VERSIONED_FUNCTION = "mlserve:lambda:VersionedFunction"


def functions(run: ProgramRun) -> dict[str, Any]:
    return {r.inputs["name"]: r for r in run.of_type(FUNCTION)}


def aliases(run: ProgramRun) -> dict[str, Any]:
    """Aliases by `<function>:<alias>`."""
    return {f"{r.inputs['functionName']}:{r.inputs['name']}": r for r in run.of_type(ALIAS)}


def test_given_prod_stack_when_run_then_one_function_and_alias_per_version(
    prod_run: ProgramRun,
) -> None:
    assert sorted(functions(prod_run)) == ["churn_v1", "churn_v2", "sentiment_v1", "sentiment_v2"]
    assert sorted(aliases(prod_run)) == [
        "churn_v1:prod_v1", "churn_v2:prod_v2", "sentiment_v1:prod_v1", "sentiment_v2:prod_v2",
    ]  # fmt: skip
    assert all(r.inputs["publish"] is True for r in prod_run.of_type(FUNCTION))


def test_given_dev_stack_when_run_then_names_carry_prefix_and_environment(
    dev_run: ProgramRun,
) -> None:
    assert sorted(functions(dev_run)) == [
        "dev-churn_v1", "dev-churn_v2", "dev-sentiment_v1", "dev-sentiment_v2",
    ]  # fmt: skip
    assert {r.inputs["name"] for r in dev_run.of_type(ALIAS)} == {"dev_v1", "dev_v2"}
    assert {r.name for r in dev_run.of_type(FUNCTION)} == {
        "churn-v1",
        "churn-v2",
        "sentiment-v1",
        "sentiment-v2",
    }  # fmt: skip  (logical names never carry the prefix, so they stay stable)


def test_given_prod_when_run_then_aliases_serve_latest_or_pin(prod_run: ProgramRun) -> None:
    targets = {key: r.inputs["functionVersion"] for key, r in aliases(prod_run).items()}
    assert targets == {
        "churn_v1:prod_v1": "7",  # the mock's newest published version
        "churn_v2:prod_v2": "3",  # pinned for rollback
        "sentiment_v1:prod_v1": "7",
        "sentiment_v2:prod_v2": "7",
    }
    assert all(target != "$LATEST" for target in targets.values())


def test_given_canary_when_newest_differs_from_pin_then_alias_routes_weight_to_newest(
    dev_run: ProgramRun,
) -> None:
    alias = aliases(dev_run)["dev-churn_v2:dev_v2"]
    assert alias.inputs["functionVersion"] == "4"
    assert alias.inputs["routingConfig"] == {"additionalVersionWeights": {"7": 0.1}}


def test_given_canary_when_newest_is_the_pin_then_no_routing_config() -> None:
    run = run_program(stack_config("dev"), stack="dev", mocks=AwsMocks(published_version="4"))
    alias = aliases(run)["dev-churn_v2:dev_v2"]
    assert alias.inputs["functionVersion"] == "4"
    assert not alias.inputs.get("routingConfig")


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_given_stack_when_run_then_only_active_functions_and_aliases_are_protected(
    stack: str, prod_run: ProgramRun, dev_run: ProgramRun
) -> None:
    run = prod_run if stack == "prod" else dev_run
    protected = sorted(r.name for r in run.registrations if r.protect)
    statuses = json.loads(run.config["mlserve:services"])
    active = sorted(
        name
        for service, body in statuses.items()
        for key, version in body["versions"].items()
        if version["status"] == "active"
        for name in (f"{service}-{key}", f"{service}-{key}-alias")
    )
    assert protected == active
    assert "churn-v1" not in protected  # deprecated in both stacks


def test_given_versions_when_run_then_each_function_has_its_own_role_and_log_group(
    prod_run: ProgramRun,
) -> None:
    for function in prod_run.of_type(FUNCTION):
        name = function.inputs["name"]
        role = prod_run.by_name(f"{function.name}-role")
        log_group = prod_run.by_name(f"{function.name}-logs")
        assert function.inputs["role"] == role.outputs["arn"]
        assert log_group.inputs["name"] == f"/aws/lambda/{name}"
        assert log_group.inputs["retentionInDays"] == 90
        assert log_group.urn in function.dependencies
        assert function.inputs["loggingConfig"]["logGroup"] == f"/aws/lambda/{name}"
        assert function.inputs["tracingConfig"] == {"mode": "Active"}
    roles = [r.urn for r in prod_run.of_type(ROLE)]
    assert len(roles) == len(set(roles)) == 4


def test_given_role_policy_when_run_then_it_writes_only_to_its_own_log_group(
    prod_run: ProgramRun,
) -> None:
    for function in prod_run.of_type(FUNCTION):
        log_group = prod_run.by_name(f"{function.name}-logs")
        policy = json.loads(prod_run.by_name(f"{function.name}-policy").inputs["policy"])
        logs, xray = policy["Statement"]
        assert logs["Resource"] == [
            log_group.outputs["arn"],
            f"{log_group.outputs['arn']}:log-stream:*",
        ]
        assert set(logs["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
        assert xray["Resource"] == "*"
        assert all(action.startswith("xray:Put") for action in xray["Action"])


def test_given_versions_when_run_then_functions_carry_tags_and_changelog(
    prod_run: ProgramRun,
) -> None:
    churn_v1 = functions(prod_run)["churn_v1"]
    assert churn_v1.inputs["tags"] == {
        "mlserve:service": "churn",
        "mlserve:api-version": "v1",
        "mlserve:lifecycle": "deprecated",
        "mlserve:environment": "prod",
    }
    assert churn_v1.inputs["description"].startswith("First release")
    assert churn_v1.inputs["architectures"] == ["arm64"]
    assert churn_v1.inputs["runtime"] == "python3.12"


def test_given_deprecated_version_when_run_then_function_env_carries_lifecycle(
    prod_run: ProgramRun,
) -> None:
    variables = functions(prod_run)["churn_v1"].inputs["environment"]["variables"]
    assert variables["MLSERVE_LIFECYCLE"] == "deprecated"
    assert variables["MLSERVE_DEPRECATED_ON"] == "2026-09-01"
    assert variables["MLSERVE_SUNSET_ON"] == "2027-06-30"
    assert variables["MLSERVE_SUCCESSOR_PATH"] == "/churn/v2"
    assert variables["MLSERVE_DOCS_URL"] == "https://models.example.com/docs/churn/v1"
    active = functions(prod_run)["churn_v2"].inputs["environment"]["variables"]
    assert active["MLSERVE_LIFECYCLE"] == "active"
    assert active["LOG_LEVEL"] == "INFO"


def test_given_functions_when_run_then_parents_form_service_version_tree(
    prod_run: ProgramRun,
) -> None:
    function = prod_run.by_name("churn-v2", FUNCTION)
    component = prod_run.by_urn(function.parent)
    assert component.type == VERSIONED_FUNCTION
    assert prod_run.by_urn(component.parent).type == "mlserve:service:ModelService"
    assert prod_run.by_name("churn-v2-alias").parent == component.urn


def test_given_prod_when_run_then_versions_output_is_the_ledger(prod_run: ProgramRun) -> None:
    assert prod_run.outputs["versions"]["churn"] == {
        "v1": {
            "function": "churn_v1", "alias": "prod_v1", "status": "deprecated",
            "lambdaVersion": "7", "pinned": False, "deprecatedOn": "2026-09-01",
            "sunsetOn": "2027-06-30", "successor": "v2",
        },
        "v2": {
            "function": "churn_v2", "alias": "prod_v2", "status": "active",
            "lambdaVersion": "3", "pinned": True,
        },
    }  # fmt: skip
    assert prod_run.outputs["functions"]["churn/v2"].endswith(":function:churn_v2:prod_v2")


def retire_sentiment_v1(services: Services) -> None:
    services["sentiment"]["versions"]["v1"] = {
        "status": "retired", "deprecatedOn": "2027-01-15", "sunsetOn": "2027-07-31",
        "successor": "v2", "changelog": "Single text in, sentiment score out.",
    }  # fmt: skip
    services["sentiment"]["consumers"][1]["versions"] = ["v2"]


def test_given_retired_version_when_run_then_it_has_no_resources_but_stays_in_ledger() -> None:
    config = edited(stack_config("prod"), retire_sentiment_v1)
    run = run_program(config, stack="prod", today="2027-08-01")
    assert run.error is None, run.error
    assert not [r for r in run.registrations if r.name.startswith("sentiment-v1")]
    assert "sentiment_v1" not in functions(run)
    assert run.outputs["versions"]["sentiment"]["v1"] == {
        "function": "sentiment_v1", "alias": "prod_v1", "status": "retired", "pinned": False,
        "deprecatedOn": "2027-01-15", "sunsetOn": "2027-07-31", "successor": "v2",
    }  # fmt: skip
    assert "sentiment/v1" not in run.outputs["functions"]


def test_given_config_error_when_run_then_nothing_is_registered_and_path_is_named() -> None:
    def break_pin(services: Services) -> None:
        services["churn"]["versions"]["v2"]["pin"] = 0

    run = run_program(edited(stack_config("prod"), break_pin), stack="prod")
    assert run.error is not None
    assert "mlserve:services.churn.versions.v2.pin" in run.error
    assert [r.type for r in run.registrations] == ["pulumi:pulumi:Stack"]


def test_given_two_runs_when_second_differs_then_nothing_leaks_between_them() -> None:
    first = run_program(stack_config("prod"), stack="prod")
    second = run_program(stack_config("dev"), stack="dev")
    third = run_program(stack_config("prod"), stack="prod")
    assert not any(r.urn.startswith("urn:pulumi:prod::") for r in second.registrations)
    assert sorted(r.urn for r in first.registrations) == sorted(r.urn for r in third.registrations)
    assert first.outputs == third.outputs


def test_given_preview_when_run_then_unknown_versions_stay_unknown_not_faked() -> None:
    run = run_program(stack_config("prod"), stack="prod", preview=True)
    assert run.error is None
    alias = aliases(run)["churn_v1:prod_v1"]
    assert isinstance(alias.inputs["functionVersion"], Unknown)
    assert aliases(run)["churn_v2:prod_v2"].inputs["functionVersion"] == "3"  # the pin is known
