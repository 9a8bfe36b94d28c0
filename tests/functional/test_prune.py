"""`mlserve prune` end to end against moto: a stack's functions seeded with many published versions,
aliases with weights, a hand-made alias, provisioned concurrency, an event source mapping and a
qualified permission; exactly the unreachable versions (and unused layer versions) go.

moto deletes an aliased version without the refusal AWS gives, so the expectations here are the
whole guarantee: prune must never try. moto implements no provisioned concurrency: the one call
that lists it is answered from the seed by a stand-in (`Seeded`); every other call is moto's."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components.pruning import janitor_plan
from components.settings import settings_from_engine_config
from mlserve.offline import PROJECT_ROOT
from mlserve.ops import prune
from mlserve.stack_files import stack_config, stack_settings
from mlserve_runtime import prune as core
from mlserve_runtime.conventions import layer_name
from services.prune_janitor.janitor import run as run_janitor
from tests.conftest import TODAY
from tests.support.scratch import edit_stack, scratch_project

STACK = "prod"
REGION = "us-east-1"
PUBLISHED = 9  # versions published per function
LAYERS = 4  # layer versions published per layer
KEEP = 2


class Seeded:
    """moto's Lambda client, with provisioned concurrency answered from the seed."""

    def __init__(self, client: Any, provisioned: dict[str, list[int]]) -> None:
        self._client = client
        self.provisioned = provisioned

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_paginator(self, operation: str) -> Any:
        if operation != "list_provisioned_concurrency_configs":
            return self._client.get_paginator(operation)
        seeded = self.provisioned

        class Pages:
            def paginate(self, FunctionName: str) -> Iterator[dict[str, Any]]:  # noqa: N803
                arn = f"arn:aws:lambda:{REGION}:123456789012:function:{FunctionName}"
                configs = [{"FunctionArn": f"{arn}:{n}"} for n in seeded.get(FunctionName, [])]
                yield {"ProvisionedConcurrencyConfigs": configs}

        return Pages()


@dataclass
class Account:
    """What the seed made, and what must stay."""

    client: Seeded
    functions: list[str]
    layers: list[str]
    reachable: dict[str, set[int]] = field(default_factory=dict)
    used_layers: dict[str, set[int]] = field(default_factory=dict)

    def versions(self, function: str) -> set[int]:
        pages = self.client.get_paginator("list_versions_by_function").paginate(
            FunctionName=function
        )
        return {
            int(v["Version"]) for p in pages for v in p["Versions"] if v["Version"] != "$LATEST"
        }

    def layer_versions(self, layer: str) -> set[int]:
        return {
            v["Version"] for v in self.client.list_layer_versions(LayerName=layer)["LayerVersions"]
        }


def archive(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("app.py", text)
    return buffer.getvalue()


@pytest.fixture
def account() -> Iterator[Account]:
    """The stack's functions in moto, each with PUBLISHED versions and its own kind of reach."""
    settings = stack_settings(STACK)
    with mock_aws():
        moto_lambda = boto3.client("lambda", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="prune-test", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="work")["QueueUrl"]
        queue_arn = f"arn:aws:sqs:{REGION}:123456789012:{queue.rsplit('/', 1)[1]}"
        layers = sorted({layer_name(settings.name_prefix, v.runtime, v.architecture)
                         for v in settings.deployed_versions()})  # fmt: skip
        layer_arns = {
            name: [moto_lambda.publish_layer_version(LayerName=name, Content={
                "ZipFile": archive(f"{name}{n}")})["LayerVersionArn"] for n in range(LAYERS)]
            for name in layers
        }  # fmt: skip
        seeded = Seeded(moto_lambda, {})
        functions = [v.function_name for v in settings.deployed_versions()]
        found = Account(seeded, functions, layers)
        for index, version in enumerate(settings.deployed_versions()):
            name = version.function_name
            layer = layer_name(settings.name_prefix, version.runtime, version.architecture)
            moto_lambda.create_function(
                FunctionName=name, Runtime=version.runtime, Role=role, Handler="app.handler",
                Code={"ZipFile": archive("0")}, Layers=[layer_arns[layer][0]],
            )  # fmt: skip
            for n in range(1, PUBLISHED + 1):  # version n uses the layer version (n + 1) // 3
                moto_lambda.update_function_configuration(
                    FunctionName=name, Layers=[layer_arns[layer][min(n // 3, LAYERS - 2)]]
                )
                moto_lambda.update_function_code(FunctionName=name, ZipFile=archive(str(n)))
                moto_lambda.publish_version(FunctionName=name)
            reach = {PUBLISHED - k for k in range(KEEP)}  # the newest KEEP
            served = 3 + index % 2
            moto_lambda.create_alias(FunctionName=name, Name=version.alias_name,
                                     FunctionVersion=str(served))  # fmt: skip
            reach.add(served)
            kind = index % 4
            if kind == 0:  # a canary weight, and an alias made by hand in another environment
                weights = {"AdditionalVersionWeights": {"5": 0.1}}
                moto_lambda.update_alias(FunctionName=name, Name=version.alias_name,
                                         RoutingConfig=weights)  # fmt: skip
                moto_lambda.create_alias(FunctionName=name, Name="staging", FunctionVersion="1")
                reach |= {5, 1}
            elif kind == 1:
                seeded.provisioned[name] = [2]
                reach.add(2)
            elif kind == 2:
                moto_lambda.create_event_source_mapping(
                    EventSourceArn=queue_arn, FunctionName=f"{name}:6", BatchSize=1
                )
                reach.add(6)
            else:
                moto_lambda.add_permission(
                    FunctionName=name, Qualifier="1", StatementId="s",
                    Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
                )  # fmt: skip
                reach.add(1)
            found.reachable[name] = reach
            used = {min(n // 3, LAYERS - 2) + 1 for n in reach}  # layer versions are 1-based
            used.add(min(PUBLISHED // 3, LAYERS - 2) + 1)  # $LATEST's
            found.used_layers.setdefault(layer, set()).update(used)
        yield found


def test_given_seeded_account_when_dry_run_then_nothing_goes_and_the_plan_is_exact(
    account: Account,
) -> None:
    plans = prune.prune(stack_settings(STACK), account.client, None, KEEP, apply=False)
    by_name = {p.name: p for p in plans}
    for function in account.functions:
        assert account.versions(function) == set(range(1, PUBLISHED + 1))
        expected = set(range(1, PUBLISHED + 1)) - account.reachable[function]
        assert set(by_name[function].delete) == expected
        assert set(by_name[function].keep) == account.reachable[function]


def test_given_seeded_account_when_applied_then_exactly_the_reachable_versions_stay(
    account: Account,
) -> None:
    prune.prune(stack_settings(STACK), account.client, None, KEEP, apply=True)
    for function in account.functions:
        assert account.versions(function) == account.reachable[function], function
    for layer in account.layers:
        newest = set(range(LAYERS - KEEP + 1, LAYERS + 1))
        assert account.layer_versions(layer) == account.used_layers[layer] | newest, layer


def test_given_alias_made_or_version_gone_after_the_plan_when_applied_then_nothing_reachable_goes(
    account: Account,
) -> None:
    function = account.functions[0]
    plan, _ = core.plan_function(function, account.client, KEEP, {})
    made, gone = plan.delete[0], plan.delete[1]
    account.client.create_alias(FunctionName=function, Name="by_hand", FunctionVersion=str(made))
    account.client.delete_function(FunctionName=function, Qualifier=str(gone))
    core.apply_plan(plan, account.client)
    left = account.versions(function)
    assert made in left and "(appeared since the plan)" in plan.keep[made]
    assert f"version {gone} was gone already" in plan.notes
    assert left == account.reachable[function] | {made}


def test_given_cli_when_run_on_the_seeded_account_then_keep_2_deletes_the_unreachable(
    account: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_client = boto3.client
    monkeypatch.setattr(boto3, "client", lambda service, **kw: (
        account.client if service == "lambda" else real_client(service, **kw)))  # fmt: skip
    assert prune.main(["--stack", STACK, "--keep", str(KEEP)]) == 0
    dry = capsys.readouterr().out
    assert "dry run: nothing deleted" in dry
    assert all(account.versions(f) == set(range(1, PUBLISHED + 1)) for f in account.functions)
    assert prune.main(["--stack", STACK, "--keep", str(KEEP), "--apply"]) == 0
    for function in account.functions:
        assert account.versions(function) == account.reachable[function]
    assert "keeps" in capsys.readouterr().out


def test_given_a_stack_file_pins_a_version_when_pruned_then_that_version_stays(
    account: Account, tmp_path: Path
) -> None:
    # GIVEN a copy of the stack files in which one version pins a version prune would delete
    version = next(v for v in stack_settings(STACK).deployed_versions() if v.status == "active")
    plan, _ = core.plan_function(version.function_name, account.client, KEEP, {})
    pinned = plan.delete[0]
    root = scratch_project(tmp_path)

    def pin(services: Any) -> None:
        services[version.service]["versions"][version.key]["pin"] = pinned

    edit_stack(root, STACK, pin)
    # WHEN the pins of every stack file protect it
    pins = prune.pinned_versions(root)
    reason = f"pinned by stack {STACK} ({version.alias_name})"
    assert pins == {version.function_name: {pinned: reason}}
    plans = core.prune_all(account.client, [version.function_name], [], KEEP, pins, apply=True)
    # THEN it is kept, named as pinned, and the rest goes as before
    assert plans[0].keep[pinned] == [reason]
    assert account.versions(version.function_name) == account.reachable[version.function_name] | {
        pinned
    }


@pytest.mark.parametrize("keep", ["0", "-1", "two"])
def test_given_bad_keep_when_run_then_exit_2_saying_why(
    keep: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        prune.main(["--stack", STACK, "--keep", keep])
    assert exit_info.value.code == 2
    assert "keep at least the newest 1 version" in capsys.readouterr().err


def test_given_the_janitor_when_scheduled_then_it_prunes_exactly_as_the_cli(
    account: Account,
) -> None:
    # GIVEN the plan the program packages for the janitor of this stack, keeping KEEP
    config = {**stack_config(STACK), "mlserve:pruning": json.dumps({"keep": KEEP})}
    settings = settings_from_engine_config(config, stack=STACK, project_root=PROJECT_ROOT,
                                           today=date.fromisoformat(TODAY))  # fmt: skip
    plan = json.loads(json.dumps(janitor_plan(settings)))  # as read back from its package
    # WHEN the janitor runs it
    report = run_janitor(plan, account.client, None)
    # THEN exactly the unreachable versions went, as with `mlserve prune --apply`
    for function in account.functions:
        assert account.versions(function) == account.reachable[function], function
        assert set(report[function]["kept"]) == account.reachable[function]


def test_given_in_flight_deployment_when_pruned_then_its_current_and_target_versions_stay(
    account: Account,
) -> None:
    # GIVEN a CodeDeploy deployment in flight from 2 to 7 on a function whose newest KEEP are
    # 8 and 9, and a group named for another function that does not exist yet
    function = account.functions[1]
    codedeploy = boto3.client("codedeploy", region_name=REGION)
    codedeploy.create_application(applicationName="app", computePlatform="Lambda")
    codedeploy.create_deployment_group(
        applicationName="app", deploymentGroupName=function,
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN",
                         "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )  # fmt: skip
    shift = {"Name": function, "Alias": "a", "CurrentVersion": "2", "TargetVersion": "7"}
    resource = {"Type": "AWS::Lambda::Function", "Properties": shift}
    spec = {"version": "0.0", "Resources": [{"f": resource}]}
    deployment = codedeploy.create_deployment(
        applicationName="app", deploymentGroupName=function,
        revision={"revisionType": "AppSpecContent",
                  "appSpecContent": {"content": json.dumps(spec)}},
    )["deploymentId"]  # fmt: skip
    # WHEN the in-flight versions protect the prune
    flying = core.in_flight_versions(codedeploy, "app", [function, "not-deployed-yet"])
    core.prune_all(account.client, [function], [], KEEP, flying, apply=True)
    # THEN both ends of the deployment are kept, with the reason
    assert flying == {function: {
        2: f"CurrentVersion of in-flight deployment {deployment}",
        7: f"TargetVersion of in-flight deployment {deployment}",
    }}  # fmt: skip
    assert account.versions(function) == account.reachable[function] | {2, 7}
