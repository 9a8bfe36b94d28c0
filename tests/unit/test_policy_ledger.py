"""mlserve/ledger.py: what the last deployment promised (its `versions` and `deployment` outputs)
as the policy pack config of every ledger policy."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from mlserve.ledger import (
    LedgerError,
    looks_like_stack_output,
    main,
    policy_config_from_stack_output,
)
from mlserve_runtime.conventions import LEDGER_POLICIES, LEDGER_VERSION

VERSIONS: dict[str, Any] = {
    "churn": {
        "v1": {"function": "churn_v1", "alias": "prod_v1", "status": "deprecated",
               "lambdaVersion": "7", "pinned": False, "deprecatedOn": "2026-09-01",
               "sunsetOn": "2027-06-30", "successor": "v2"},
        "v2": {"function": "churn_v2", "alias": "prod_v2", "status": "active",
               "lambdaVersion": "3", "pinned": True},
    }
}  # fmt: skip
FACTS = {
    "ledgerVersion": LEDGER_VERSION, "stack": "prod", "environment": "prod", "namePrefix": "",
    "deprecationWindowDays": 180, "domain": "models.example.com",
}  # fmt: skip
STACK_OUTPUT = {"versions": VERSIONS, "deployment": FACTS, "apiUrl": "https://models.example.com"}
LEDGER = {**FACTS, "versions": VERSIONS}
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


def test_given_stack_output_when_converted_then_every_ledger_policy_gets_the_ledger() -> None:
    config = policy_config_from_stack_output(STACK_OUTPUT, today="2027-08-01")
    assert config == {name: {"ledger": LEDGER, "today": "2027-08-01"} for name in LEDGER_POLICIES}


def test_given_stack_export_when_converted_then_root_stack_outputs_are_read() -> None:
    config = policy_config_from_stack_output(EXPORT)
    assert config == {name: {"ledger": LEDGER} for name in LEDGER_POLICIES}


def test_given_output_of_the_first_format_when_converted_then_ledger_version_one() -> None:
    # GIVEN a stack deployed before the `deployment` output existed
    config = policy_config_from_stack_output({"versions": VERSIONS})
    assert config[LEDGER_POLICIES[0]]["ledger"] == {"ledgerVersion": 1, "versions": VERSIONS}


@pytest.mark.parametrize("document", [{}, {"apiUrl": "x"}, {"version": 3, "deployment": {}}])
def test_given_output_without_versions_when_converted_then_error_points_to_new_stack(
    document: dict[str, Any],
) -> None:
    with pytest.raises(LedgerError, match="--new-stack"):
        policy_config_from_stack_output(document)


def test_given_new_stack_when_main_runs_then_every_ledger_policy_says_new_stack(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--new-stack"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        name: {"newStack": True} for name in LEDGER_POLICIES
    }


def test_given_raw_stack_output_when_looked_at_then_it_is_told_from_a_ledger() -> None:
    assert looks_like_stack_output(STACK_OUTPUT)
    assert not looks_like_stack_output(policy_config_from_stack_output(STACK_OUTPUT))


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
    assert main(["--from", "-"]) == 0
    assert json.loads(capsys.readouterr().out)[LEDGER_POLICIES[0]]["ledger"] == LEDGER


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"versions": "[secret]"}'])
def test_given_bad_input_when_main_runs_then_exit_2_with_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    source = tmp_path / "output.json"
    source.write_text(content)
    assert main(["--from", str(source)]) == 2
    assert capsys.readouterr().err.startswith("mlserve ledger: ")
