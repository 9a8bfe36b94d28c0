"""The rollout's run-time half against moto (Lambda versions and aliases, CodeDeploy applications,
groups and deployments): `rollout start` creates the right AppSpec or refuses, and the
pre-traffic hook fails a version whose answer breaks its contract. moto records deployments but
shifts no traffic and does not implement PutLifecycleEventHookExecutionStatus, so the hook's
report goes to a small recording stand-in for that one call."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from components.settings import VersionSettings, settings_from_engine_config
from mlserve.offline import PROJECT_ROOT
from mlserve.ops.rollout import RolloutError, Target, start, stop, targets
from mlserve.stack_files import stack_config, stack_settings
from mlserve_runtime.conventions import IN_FLIGHT_DEPLOYMENTS, newest_lock
from services.rollout_hook.hook import run_hook
from tests.conftest import TODAY
from tests.support.stacks import edited

REGION = "us-east-1"
HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': '{}'}\n"


def rolled_out_settings() -> Any:
    """The prod stack with its first active version rolled out as a canary."""
    first = next(v for v in stack_settings("prod", today=date.fromisoformat(TODAY))
                 .deployed_versions() if v.status == "active")  # fmt: skip

    def rollout(services: dict[str, Any]) -> None:
        services[first.service]["versions"][first.key]["rollout"] = {"strategy": "canary"}

    config = edited(stack_config("prod"), rollout)
    return settings_from_engine_config(
        config, stack="prod", project_root=PROJECT_ROOT, today=date.fromisoformat(TODAY)
    )


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            "lambda": boto3.client("lambda", region_name=REGION),
            "codedeploy": boto3.client("codedeploy", region_name=REGION),
            "iam": boto3.client("iam", region_name=REGION),
        }


def deployed(aws: dict[str, Any], version: VersionSettings, versions: int) -> None:
    """The version's function with `versions` published versions and its alias on the first."""
    role = aws["iam"].create_role(
        RoleName=f"{version.logical_name}-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER)
    aws["lambda"].create_function(
        FunctionName=version.function_name, Runtime="python3.12", Role=role,
        Handler="app.handler", Code={"ZipFile": buffer.getvalue()},
    )  # fmt: skip
    for number in range(versions):
        aws["lambda"].update_function_configuration(
            FunctionName=version.function_name, Description=f"revision {number}"
        )
        aws["lambda"].publish_version(FunctionName=version.function_name)
    aws["lambda"].create_alias(
        FunctionName=version.function_name, Name=version.alias_name, FunctionVersion="1"
    )


def group(aws: dict[str, Any], target: Target) -> None:
    aws["codedeploy"].create_application(applicationName=target.application,
                                         computePlatform="Lambda")  # fmt: skip
    aws["codedeploy"].create_deployment_group(
        applicationName=target.application, deploymentGroupName=target.group,
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes",
        deploymentStyle={"deploymentType": "BLUE_GREEN",
                         "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )  # fmt: skip


def test_given_new_version_when_started_then_deployment_from_current_to_target(
    aws: dict[str, Any],
) -> None:
    # GIVEN a rolled-out version whose alias serves 1 while 2 was just published
    (target,) = targets(rolled_out_settings(), None, None)
    deployed(aws, target.version, versions=2)
    group(aws, target)
    # WHEN the rollout starts to version 2
    deployment = start(target, "2", aws["lambda"], aws["codedeploy"])
    # THEN CodeDeploy got the AppSpec moving the alias from 1 to 2 behind the contract check
    assert deployment is not None
    info = aws["codedeploy"].get_deployment(deploymentId=deployment)["deploymentInfo"]
    spec = json.loads(info["revision"]["appSpecContent"]["content"])
    properties = next(iter(spec["Resources"][0].values()))["Properties"]
    assert properties == {
        "Name": target.version.function_name, "Alias": target.version.alias_name,
        "CurrentVersion": "1", "TargetVersion": "2",
    }  # fmt: skip
    settings = target.version.owner.stack
    assert spec["Hooks"] == [
        {"BeforeAllowTraffic": f"CodeDeployHook_{settings.name_prefix}mlserve-"
                               f"{settings.environment}"}
    ]  # fmt: skip
    assert info["deploymentGroupName"] == target.group


def test_given_alias_already_on_target_when_started_then_nothing_is_deployed(
    aws: dict[str, Any],
) -> None:
    (target,) = targets(rolled_out_settings(), None, None)
    deployed(aws, target.version, versions=1)
    group(aws, target)
    assert start(target, "1", aws["lambda"], aws["codedeploy"]) is None
    listed = aws["codedeploy"].list_deployments(
        applicationName=target.application, deploymentGroupName=target.group
    )
    assert listed["deployments"] == []


def test_given_alias_with_weights_when_started_then_refused(aws: dict[str, Any]) -> None:
    # GIVEN an alias already sending 10% to version 2 (a shift in progress, or a manual canary)
    (target,) = targets(rolled_out_settings(), None, None)
    deployed(aws, target.version, versions=3)
    group(aws, target)
    aws["lambda"].update_alias(
        FunctionName=target.version.function_name, Name=target.version.alias_name,
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )  # fmt: skip
    # WHEN / THEN starting another deployment is refused, saying what to do
    with pytest.raises(RolloutError, match="mlserve rollout status"):
        start(target, "3", aws["lambda"], aws["codedeploy"])


def test_given_version_not_rolled_out_when_named_then_refused() -> None:
    settings = stack_settings("prod", today=date.fromisoformat(TODAY))
    version = settings.deployed_versions()[0]
    with pytest.raises(RolloutError, match="does not roll out"):
        targets(settings, version.service, version.key)


class RecordingCodeDeploy:
    """moto's CodeDeploy for reading the deployment, plus the hook-status call it lacks."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.reported: list[dict[str, str]] = []

    def get_deployment(self, **kwargs: Any) -> Any:
        return self.real.get_deployment(**kwargs)

    def put_lifecycle_event_hook_execution_status(self, **kwargs: str) -> None:
        self.reported.append(kwargs)


class AnsweringLambda:
    """Lambda's Invoke of a version, answered by a given handler (the target version's code)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.invoked: list[tuple[str, str]] = []

    def invoke(self, FunctionName: str, Qualifier: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        self.invoked.append((FunctionName, Qualifier))
        return {"Payload": io.BytesIO(json.dumps(self.answer(json.loads(Payload))).encode())}


def hook_run(aws: dict[str, Any], answer: Any) -> tuple[str, RecordingCodeDeploy, AnsweringLambda]:
    """The hook for a real deployment of the rolled-out version, its target answering so."""
    (target,) = targets(rolled_out_settings(), None, None)
    deployed(aws, target.version, versions=2)
    group(aws, target)
    deployment = start(target, "2", aws["lambda"], aws["codedeploy"])
    codedeploy, lambda_client = RecordingCodeDeploy(aws["codedeploy"]), AnsweringLambda(answer)
    checks = {target.version.function_name: target.version.contract_checks}
    event = {"DeploymentId": deployment, "LifecycleEventHookExecutionId": "hook-1"}
    return run_hook(event, codedeploy, lambda_client, checks), codedeploy, lambda_client


def real_handler(version: VersionSettings) -> Any:
    """The version's real handler, loaded as the local API does."""
    from tests.support.events import load_handler

    return load_handler(version.service, version.key).handler


def test_given_target_answering_its_contract_when_hook_runs_then_succeeded(
    aws: dict[str, Any],
) -> None:
    (target,) = targets(rolled_out_settings(), None, None)
    status, codedeploy, lambda_client = hook_run(
        aws, lambda event: real_handler(target.version)(event, None)
    )
    assert status == "Succeeded"
    assert codedeploy.reported == [
        {"deploymentId": codedeploy.reported[0]["deploymentId"],
         "lifecycleEventHookExecutionId": "hook-1", "status": "Succeeded"}
    ]  # fmt: skip
    routes = target.version.surface["routes"] if target.version.surface else {}
    assert lambda_client.invoked == [(target.version.function_name, "2")] * len(routes)


def test_given_target_breaking_its_response_contract_when_hook_runs_then_failed(
    aws: dict[str, Any],
) -> None:
    # GIVEN a target version that answers 200 with a body its locked schema rejects
    (target,) = targets(rolled_out_settings(), None, None)
    lock = newest_lock(PROJECT_ROOT, target.version.service, target.version.key)
    assert lock is not None and lock["routes"]
    status, codedeploy, _ = hook_run(
        aws, lambda event: {"statusCode": 200, "body": json.dumps({"unexpected": True})}
    )
    # THEN the hook reports Failed: CodeDeploy stops before the alias moves
    assert status == "Failed" and codedeploy.reported[-1]["status"] == "Failed"


def test_given_target_failing_when_hook_runs_then_failed_and_still_reported(
    aws: dict[str, Any],
) -> None:
    status, codedeploy, _ = hook_run(aws, lambda event: {"statusCode": 500, "body": "boom"})
    assert status == "Failed" and codedeploy.reported[-1]["status"] == "Failed"


def test_given_stop_when_deployment_in_flight_then_stopped_with_rollback() -> None:
    # GIVEN a group with one deployment in flight (moto has no StopDeployment: botocore's
    # Stubber plays CodeDeploy here, checking every parameter the command sends)
    (target,) = targets(rolled_out_settings(), None, None)
    codedeploy = boto3.client("codedeploy", region_name=REGION)
    stubber = Stubber(codedeploy)
    stubber.add_response(
        "list_deployments", {"deployments": ["d-ABC123"]},
        {"applicationName": target.application, "deploymentGroupName": target.group,
         "includeOnlyStatuses": IN_FLIGHT_DEPLOYMENTS},
    )  # fmt: skip
    stubber.add_response(
        "stop_deployment",
        {"status": "Pending"},
        {"deploymentId": "d-ABC123", "autoRollbackEnabled": True},
    )
    # WHEN stopped THEN CodeDeploy was asked to stop it and roll back
    with stubber:
        assert stop(target, codedeploy) == ["d-ABC123"]
    stubber.assert_no_pending_responses()
