"""mlserve/ledger.py: the last deployment's `versions` output as the policy pack config."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from mlserve.ledger import LedgerError, main, policy_config_from_stack_output

VERSIONS: dict[str, Any] = {
    "churn": {
        "v1": {"function": "churn_v1", "alias": "prod_v1", "status": "deprecated",
               "lambdaVersion": "7", "pinned": False, "deprecatedOn": "2026-09-01",
               "sunsetOn": "2027-06-30", "successor": "v2"},
        "v2": {"function": "churn_v2", "alias": "prod_v2", "status": "active",
               "lambdaVersion": "3", "pinned": True},
    }
}  # fmt: skip
STACK_OUTPUT = {"versions": VERSIONS, "apiUrl": "https://models.example.com"}
EXPORT = {
    "version": 3,
    "deployment": {
        "manifest": {"time": "2026-11-27T00:00:00Z"},
        "resources": [
            {"urn": "urn:pulumi:prod::mlserve::pulumi:providers:aws::default", "type":
             "pulumi:providers:aws", "outputs": {"versions": "not this one"}},
            {"urn": "urn:pulumi:prod::mlserve::pulumi:pulumi:Stack::mlserve-prod",
             "type": "pulumi:pulumi:Stack", "outputs": STACK_OUTPUT},
        ],
    },
}  # fmt: skip


def test_given_stack_output_when_converted_then_ledger_is_the_versions_output() -> None:
    config = policy_config_from_stack_output(STACK_OUTPUT, today="2027-08-01")
    assert config == {
        "no-removal-of-non-deprecated-versions": {"ledger": VERSIONS, "today": "2027-08-01"}
    }


def test_given_stack_export_when_converted_then_root_stack_outputs_are_read() -> None:
    config = policy_config_from_stack_output(EXPORT)
    assert config == {"no-removal-of-non-deprecated-versions": {"ledger": VERSIONS}}


@pytest.mark.parametrize("document", [{}, {"apiUrl": "x"}, {"version": 3, "deployment": {}}])
def test_given_first_deployment_when_converted_then_no_ledger(document: dict[str, Any]) -> None:
    assert policy_config_from_stack_output(document) == {
        "no-removal-of-non-deprecated-versions": {}
    }


@pytest.mark.parametrize(
    ("document", "today", "expected"),
    [
        ({"versions": "[secret]"}, None, "--show-secrets"),
        ({"versions": ["churn"]}, None, "not an object"),
        ({"versions": {"churn": {"v1": {"function": "churn_v1"}}}}, None, "versions.churn.v1"),
        ({"versions": {"churn": "v1"}}, None, "versions.churn is not an object"),
        (STACK_OUTPUT, "01/08/2027", "is not a YYYY-MM-DD date"),
    ],
)
def test_given_unusable_output_when_converted_then_error_says_why(
    document: dict[str, Any], today: str | None, expected: str
) -> None:
    with pytest.raises(LedgerError, match=expected.replace("[", r"\[").replace("-", r"\-")):
        policy_config_from_stack_output(document, today=today)


def test_given_files_when_main_runs_then_config_file_is_written(tmp_path: Path) -> None:
    # GIVEN `pulumi stack output --json` saved to a file
    source, target = tmp_path / "output.json", tmp_path / "ledger.json"
    source.write_text(json.dumps(STACK_OUTPUT))
    # WHEN the command runs THEN it writes the policy pack config and exits 0
    assert main(["--from", str(source), "--out", str(target), "--today", "2027-08-01"]) == 0
    assert json.loads(target.read_text()) == policy_config_from_stack_output(
        STACK_OUTPUT, today="2027-08-01"
    )


def test_given_stdin_when_main_runs_then_stdout_has_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(EXPORT)))
    assert main([]) == 0
    assert (
        json.loads(capsys.readouterr().out)["no-removal-of-non-deprecated-versions"]["ledger"]
        == VERSIONS
    )


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"versions": "[secret]"}'])
def test_given_bad_input_when_main_runs_then_exit_2_with_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    source = tmp_path / "output.json"
    source.write_text(content)
    assert main(["--from", str(source)]) == 2
    assert capsys.readouterr().err.startswith("mlserve ledger: ")
