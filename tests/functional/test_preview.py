"""The offline preview command end to end, as CI and a user run it: program, pack, verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from mlserve.offline import PROJECT_ROOT, ProgramRun


def preview(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlserve", "preview", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_given_example_stacks_when_previewed_then_plan_and_no_mandatory_violation() -> None:
    result = preview("--all")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "churn_v1:prod_v1 -> version 7" in result.stdout
    assert "churn_v2:prod_v2 -> version 3 (pinned) protected" in result.stdout
    assert "routes: GET /churn/v2/health, GET /churn/v2/metadata, POST /churn/v2/predict" in (
        result.stdout
    )
    assert result.stdout.count("mandatory: none") == 2


def test_given_active_version_deleted_from_prod_when_previewed_with_ledger_then_it_fails(
    tmp_path: Path, prod_run: ProgramRun
) -> None:
    # GIVEN the ledger of the last prod deployment, built by `mlserve ledger` from its outputs
    (tmp_path / "output.json").write_text(json.dumps(prod_run.outputs))
    ledger = tmp_path / "ledger.json"
    built = subprocess.run(
        [sys.executable, "-m", "mlserve", "ledger", "--from", str(tmp_path / "output.json"),
         "--out", str(ledger)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
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
