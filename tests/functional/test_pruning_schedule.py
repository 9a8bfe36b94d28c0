"""Scheduled pruning under the recording monitor: the janitor runs prune's own code from its
package, may list and delete only this stack's function and layer versions, and runs on the
configured EventBridge Scheduler expression; bad pruning config is refused."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import date
from typing import Any

import pytest

from components.settings import ConfigError, settings_from_engine_config
from mlserve.analyzer import analyze_run
from mlserve.ledger import policy_config
from mlserve.offline import PROJECT_ROOT, ProgramRun, run_program
from mlserve.stack_files import stack_config
from mlserve_runtime.conventions import JANITOR_PLAN_FILE, janitor_function_name
from tests.conftest import TODAY

STACK = "prod"
FUNCTION = "aws:lambda/function:Function"
LAYER = "aws:lambda/layerVersion:LayerVersion"
POLICY = "aws:iam/rolePolicy:RolePolicy"
SCHEDULE = "aws:scheduler/schedule:Schedule"
PRUNING = {"keep": 3, "schedule": "rate(6 hours)"}


def with_pruning(pruning: Any) -> dict[str, str]:
    return {**stack_config(STACK), "mlserve:pruning": json.dumps(pruning)}


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    result = run_program(with_pruning(PRUNING), stack=STACK, today=TODAY)
    assert result.error is None, result.error
    return result


def settings() -> Any:
    today = date.fromisoformat(TODAY)
    return settings_from_engine_config(
        with_pruning(PRUNING), stack=STACK, project_root=PROJECT_ROOT, today=today
    )


def janitor(run: ProgramRun) -> Any:
    name = janitor_function_name(settings().name_prefix, settings().environment)
    (found,) = [f for f in run.of_type(FUNCTION) if f.inputs["name"] == name]
    return found


def test_given_pruning_when_registered_then_the_janitor_runs_prunes_own_code_and_plan(
    run: ProgramRun,
) -> None:
    function = janitor(run)
    assert function.inputs["handler"] == "janitor.handler"
    with zipfile.ZipFile(function.inputs["code"].path) as package:
        names = set(package.namelist())
        plan = json.loads(package.read(JANITOR_PLAN_FILE))
        core = package.read("mlserve_runtime/prune.py")
    assert {"janitor.py", "mlserve_runtime/prune.py", JANITOR_PLAN_FILE} <= names
    assert core == (PROJECT_ROOT / "services/runtime/mlserve_runtime/prune.py").read_bytes()
    versions = [v.function_name for v in settings().deployed_versions()]
    assert plan["functions"] == versions and plan["keep"] == PRUNING["keep"]
    assert plan["layers"] == sorted(r.inputs["layerName"] for r in run.of_type(LAYER))


def test_given_pruning_when_registered_then_the_janitor_may_touch_only_this_stacks_versions(
    run: ProgramRun,
) -> None:
    function = janitor(run)
    role_policies = [json.loads(p.inputs["policy"]) for p in run.of_type(POLICY)
                     if p.urn.split("::")[-1].startswith("pruning-janitor")]  # fmt: skip
    (document,) = role_policies
    statements = {s["Sid"]: s for s in document["Statement"]}
    arns = [f.outputs["arn"] for f in run.of_type(FUNCTION) if f.urn != function.urn
            and "mlserve:service" in f.inputs.get("tags", {})]  # fmt: skip
    services = {re.sub(r"_v\d+$", "_v*", arn) for arn in arns}  # one pattern per service
    assert set(statements["PruneOwnFunctionVersions"]["Resource"]) == services
    assert all(re.fullmatch(pattern.replace("*", ".*"), arn) for arn in arns
               for pattern in services if arn.startswith(pattern[:-1]))  # fmt: skip
    assert "lambda:DeleteFunction" in statements["PruneOwnFunctionVersions"]["Action"]
    layers = {re.sub(r":\d+$", ":*", r.outputs["arn"]) for r in run.of_type(LAYER)}
    assert set(statements["PruneOwnLayerVersions"]["Resource"]) == layers
    wildcard = sorted(sorted(s["Action"]) for s in document["Statement"] if s["Resource"] == "*")
    assert wildcard == [
        ["lambda:ListEventSourceMappings", "lambda:ListLayerVersions"],
        ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],  # Active tracing needs them
    ]


def test_given_pruning_when_registered_then_the_schedule_invokes_only_the_janitor(
    run: ProgramRun,
) -> None:
    function = janitor(run)
    (schedule,) = run.of_type(SCHEDULE)
    assert schedule.inputs["scheduleExpression"] == PRUNING["schedule"]
    assert schedule.inputs["target"]["arn"] == function.outputs["arn"]
    invoke = [json.loads(p.inputs["policy"]) for p in run.of_type(POLICY)
              if p.urn.split("::")[-1].startswith("pruning-schedule")]  # fmt: skip
    assert invoke == [{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function.outputs["arn"]}
    ]}]  # fmt: skip


def test_given_pruning_stack_when_analyzed_then_the_pack_passes_it(run: ProgramRun) -> None:
    verdicts = analyze_run(run, policy_config=policy_config(None))
    assert [v for v in verdicts if v.mandatory] == []


def test_given_no_pruning_when_registered_then_no_janitor(prod_run: ProgramRun) -> None:
    assert prod_run.of_type(SCHEDULE) == []


@pytest.mark.parametrize(
    ("pruning", "expected"),
    [
        ({"keep": 0}, "keep"),
        ({"schedule": "every day"}, "not an EventBridge Scheduler expression"),
        ({"schedule": "rate(1 days)"}, "not an EventBridge Scheduler expression"),
        ({"keeps": 3}, "did you mean `keep`"),
    ],
)
def test_given_bad_pruning_when_validated_then_the_error_says_how_to_fix_it(
    pruning: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        settings_from_engine_config(with_pruning(pruning), stack=STACK, project_root=PROJECT_ROOT,
                                    today=date.fromisoformat(TODAY))  # fmt: skip


def test_given_long_prefix_and_environment_when_pruning_then_the_janitor_name_is_refused() -> None:
    config = {**with_pruning(PRUNING), "mlserve:namePrefix": "p" * 32,
              "mlserve:environment": "e" * 32}  # fmt: skip
    with pytest.raises(ConfigError, match="the pruning janitor"):
        settings_from_engine_config(config, stack=STACK, project_root=PROJECT_ROOT,
                                    today=date.fromisoformat(TODAY))  # fmt: skip
