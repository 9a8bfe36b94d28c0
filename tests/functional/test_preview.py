"""The offline preview command end to end, as CI and a user run it: program, pack, verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from components.settings import VersionSettings
from mlserve.offline import PROJECT_ROOT, ProgramRun, run_program
from mlserve.preview import plan_lines
from mlserve.stack_files import stack_config, stack_files, stack_settings
from mlserve_runtime.conventions import minimum_visibility_timeout
from tests.conftest import TODAY


def preview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlserve", "preview", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_given_example_stacks_as_new_stacks_when_previewed_then_plan_and_no_violation() -> None:
    result = preview("--all", "--new-stack")
    assert result.returncode == 0, result.stdout + result.stderr
    for stack in stack_files():
        settings = stack_settings(stack)
        assert f"Offline preview of stack {stack} (Pulumi.{stack}.yaml, first deployment" in (
            result.stdout
        )
        for version in settings.deployed_versions():
            protected = " protected" if version.status == "active" else ""
            assert (
                f"{version.function_name}:{version.alias_name} -> newest published version "
                f"(known after deploy){protected}" in result.stdout
            )
            routes = sorted(f"{r.method} {version.base_path}{r.path}" for r in version.all_routes)
            assert f"routes: {', '.join(routes)}" in result.stdout
    assert result.stdout.count("mandatory: none") == len(stack_files())


def ledger_file(run: ProgramRun, folder: Path) -> Path:
    (folder / "output.json").write_text(json.dumps(run.outputs))
    ledger = folder / "ledger.json"
    built = subprocess.run(
        [sys.executable, "-m", "mlserve", "ledger", "--from", str(folder / "output.json"),
         "--out", str(ledger)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    return ledger


def test_given_ledger_of_same_config_when_previewed_then_published_versions_are_known(
    tmp_path: Path, prod_run: ProgramRun
) -> None:
    # GIVEN the ledger of a deployment of exactly this config
    result = preview("--stack", "prod", "--ledger", str(ledger_file(prod_run, tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    settings = stack_settings("prod")
    # THEN nothing publishes: every alias keeps the version the ledger recorded
    assert f"{len(settings.deployed_versions())} function(s) unchanged" in result.stdout
    for version in settings.deployed_versions():
        served = prod_run.outputs["versions"][version.service][version.key]["lambdaVersion"]
        assert f"{version.function_name}:{version.alias_name} -> version {served}" in result.stdout


def test_given_changed_version_when_previewed_with_ledger_then_its_version_is_unknown(
    tmp_path: Path, prod_run: ProgramRun
) -> None:
    # GIVEN the ledger, and the config with one version's memory raised (a configuration change)
    ledger = ledger_file(prod_run, tmp_path)
    settings = stack_settings("prod")
    version = next(v for v in settings.deployed_versions() if v.status == "active")
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())
    entry = document["config"]["mlserve:services"][version.service]["versions"][version.key]
    entry["memoryMb"] = version.memory_mb * 2
    edited = tmp_path / "Pulumi.prod.yaml"
    edited.write_text(yaml.safe_dump(document))
    result = preview("--stack", "prod", "--config-file", str(edited), "--ledger", str(ledger))
    assert result.returncode == 0, result.stdout + result.stderr
    # THEN that function publishes (its version is known only after the update), the rest not
    line = f"{version.function_name}:{version.alias_name} -> newest published version"
    assert line in result.stdout
    assert f"{len(settings.deployed_versions()) - 1} function(s) unchanged" in result.stdout
    assert "undecided until the update:" in result.stdout


def test_given_pin_above_ledgers_newest_when_previewed_then_it_fails_naming_the_key(
    tmp_path: Path, prod_run: ProgramRun
) -> None:
    ledger = ledger_file(prod_run, tmp_path)
    settings = stack_settings("prod")
    version = next(v for v in settings.deployed_versions() if v.status == "active")
    newest = prod_run.outputs["versions"][version.service][version.key]["publishedVersion"]
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["mlserve:services"][version.service]["versions"][version.key]["pin"] = (
        int(newest) + 1
    )
    edited = tmp_path / "Pulumi.prod.yaml"
    edited.write_text(yaml.safe_dump(document))
    result = preview("--stack", "prod", "--config-file", str(edited), "--ledger", str(ledger))
    assert result.returncode == 1
    assert f"mlserve:services.{version.service}.versions.{version.key}.pin" in result.stdout
    assert f"its newest is {newest}" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_given_active_version_deleted_from_prod_when_previewed_with_ledger_then_it_fails(
    tmp_path: Path, prod_run: ProgramRun
) -> None:
    # GIVEN the ledger of the last prod deployment, built by `mlserve ledger` from its outputs
    ledger = ledger_file(prod_run, tmp_path)
    # AND a copy of Pulumi.prod.yaml with the active sentiment v2 deleted
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())
    sentiment = document["config"]["mlserve:services"]["sentiment"]
    del sentiment["versions"]["v2"]
    sentiment["versions"]["v1"].pop("successor")
    sentiment["versions"]["v1"].pop("deprecatedOn")
    sentiment["versions"]["v1"].pop("sunsetOn")
    sentiment["consumers"] = [{"role": sentiment["consumers"][1]["role"], "versions": ["v1"]}]
    edited = tmp_path / "Pulumi.prod.yaml"
    edited.write_text(yaml.safe_dump(document))
    # WHEN the offline preview runs with the ledger
    result = preview("--stack", "prod", "--config-file", str(edited), "--ledger", str(ledger))
    # THEN it exits non-zero, naming the version and the fix
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[no-removal-of-non-deprecated-versions]" in result.stdout
    assert "sentiment v2 was active in the last deployment" in result.stdout
    assert "deprecate it (status: deprecated with deprecatedOn, sunsetOn and successor)" in (
        result.stdout
    )
    assert "Result: FAILED" in result.stdout


def test_given_bad_config_when_previewed_then_key_path_and_no_traceback(tmp_path: Path) -> None:
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["mlserve:services"]["churn"]["versions"]["v2"]["pin"] = 0
    edited = tmp_path / "Pulumi.prod.yaml"
    edited.write_text(yaml.safe_dump(document))
    result = preview("--stack", "prod", "--config-file", str(edited))
    assert result.returncode == 1
    assert "mlserve:services.churn.versions.v2.pin" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_given_no_ledger_and_no_new_stack_when_previewed_then_it_fails_closed() -> None:
    result = preview("--stack", "prod")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no ledger: this stack is judged by what its last deployment promised" in result.stdout
    assert "Result: FAILED" in result.stdout


def test_given_raw_stack_output_as_ledger_when_previewed_then_one_line_hint(
    tmp_path: Path, prod_run: ProgramRun
) -> None:
    raw = tmp_path / "output.json"
    raw.write_text(json.dumps(prod_run.outputs))
    result = preview("--stack", "prod", "--ledger", str(raw))
    assert result.returncode == 2
    assert f"run `python -m mlserve ledger --from {raw}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_given_written_outputs_when_rehearsing_the_next_deployment_then_changes_are_shown(
    tmp_path: Path,
) -> None:
    # GIVEN deployment A rehearsed offline as a new stack, its outputs written
    outputs = tmp_path / "outputs.json"
    first = preview("--stack", "prod", "--new-stack", "--write-outputs", str(outputs))
    assert first.returncode == 0, first.stdout + first.stderr
    written = json.loads(outputs.read_text())
    assert "<unknown>" not in outputs.read_text() and "versions" in written
    ledger = tmp_path / "ledger.json"
    built = subprocess.run(
        [sys.executable, "-m", "mlserve", "ledger", "--from", str(outputs), "--out", str(ledger)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    # WHEN B renames the environment (every alias replaced)
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["mlserve:environment"] = "production"
    edited = tmp_path / "Pulumi.prod.yaml"
    edited.write_text(yaml.safe_dump(document))
    second = preview("--stack", "prod", "--config-file", str(edited), "--ledger", str(ledger))
    # THEN each version shows its alias replaced, and the deployment is blocked
    assert second.returncode == 1, second.stdout + second.stderr
    for version in stack_settings("prod").deployed_versions():
        old = written["versions"][version.service][version.key]["alias"]
        assert f"alias {old} replaced by production_{version.key}" in second.stdout
    assert "Result: FAILED" in second.stdout


def test_given_retirement_when_previewed_with_today_then_sunset_decides(
    tmp_path: Path, prod_run: ProgramRun
) -> None:
    # GIVEN a deprecated version retired in the config
    settings = stack_settings("prod")
    deprecated = next(v for v in settings.deployed_versions() if v.status == "deprecated")
    assert deprecated.sunset_on is not None
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())
    entry = document["config"]["mlserve:services"][deprecated.service]["versions"][deprecated.key]
    entry["status"] = "retired"
    edited = tmp_path / "Pulumi.prod.yaml"
    edited.write_text(yaml.safe_dump(document))
    ledger = ledger_file(prod_run, tmp_path)
    args = ("--stack", "prod", "--config-file", str(edited), "--ledger", str(ledger), "--today")
    # WHEN previewed on its sunset day, then the day after
    on_sunset = preview(*args, deprecated.sunset_on.isoformat())
    after = preview(*args, (deprecated.sunset_on + timedelta(days=1)).isoformat())
    # THEN the clock of program and pack alike decides: refused on the day, allowed after it
    assert on_sunset.returncode == 1, on_sunset.stdout
    assert "Traceback" not in on_sunset.stdout + on_sunset.stderr
    assert after.returncode == 0, after.stdout + after.stderr
    assert "changes: deprecated -> retired, function deleted" in after.stdout


def test_given_rolled_out_version_when_previewed_then_its_rollout_is_shown(
    tmp_path: Path, prod_run: ProgramRun
) -> None:
    # GIVEN the prod stack with an active version rolled out as a linear shift
    settings = stack_settings("prod")
    version = next(v for v in settings.deployed_versions() if v.status == "active")
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())
    entry = document["config"]["mlserve:services"][version.service]["versions"][version.key]
    entry["rollout"] = {"strategy": "linear", "percent": 10, "minutes": 1}
    entry["memoryMb"] = version.memory_mb * 2  # a configuration change: it publishes
    edited = tmp_path / "Pulumi.prod.yaml"
    edited.write_text(yaml.safe_dump(document))
    ledger = ledger_file(prod_run, tmp_path)
    result = preview("--stack", "prod", "--config-file", str(edited), "--ledger", str(ledger))
    # THEN the plan names its CodeDeploy config and alarms, and that a deployment will start
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "rollout: CodeDeployDefault.LambdaLinear10PercentEvery1Minute; 3 alarm(s) roll back; "
        "a deployment starts when the new version is published" in result.stdout
    )


def visibility(version: VersionSettings) -> int:
    assert version.queue is not None
    return minimum_visibility_timeout(version.timeout_seconds, version.queue.batch_window_seconds)


@pytest.mark.parametrize("stack", list(stack_files()))
def test_given_queue_versions_when_planned_then_each_shows_its_queue_into_its_alias(
    stack: str,
) -> None:
    settings = stack_settings(stack, today=date.fromisoformat(TODAY))
    run = run_program(stack_config(stack), stack=stack, today=TODAY)
    lines = [line.strip() for line in plan_lines(run) if line.strip().startswith("queue:")]
    expected = []
    for version in settings.deployed_versions():
        if version.queue is None:
            continue
        expected.append(
            f"queue: {version.queue_name('work')} -> {version.alias_name} in batches of "
            f"{version.queue.batch_size} (at most {version.queue.max_concurrency} at once, "
            f"visibility {visibility(version)}s); "
            f"results {version.queue_name('results')}; dead letters "
            f"{version.queue_name('deadLetter')} after {version.queue.max_receive_count} receives"
        )
    assert lines == expected
