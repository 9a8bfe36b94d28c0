"""Promotion over the policy protocol: a stack with `mlserve:promoteFrom: dev` deploys only the code
packages and layers dev's ledger records; every other hash, and a missing ledger, is a mandatory
violation. The ledgers come from real program runs of the stacks that exist."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from components.settings import ConfigError, settings_from_engine_config
from mlserve import ledger, preview
from mlserve.analyzer import analyze_run
from mlserve.ledger import ledger_from_stack_output, policy_config, with_promotion
from mlserve.offline import PROJECT_ROOT, ProgramRun, run_program
from mlserve.stack_files import stack_config
from mlserve_runtime.conventions import PROMOTION_POLICY
from tests.conftest import TODAY

SOURCE, TARGET = "dev", "prod"


@pytest.fixture(scope="module")
def promoted_run() -> ProgramRun:
    """The target stack's deployment, declared as promoted from the source stack."""
    config = {**stack_config(TARGET), "mlserve:promoteFrom": SOURCE}
    run = run_program(config, stack=TARGET, today=TODAY)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="module")
def source_ledger(dev_run: ProgramRun) -> dict[str, Any]:
    return ledger_from_stack_output(dev_run.outputs)


def promotion_verdicts(run: ProgramRun, promoted: dict[str, Any] | None) -> list[str]:
    config = policy_config(None)  # a first deployment: the ledger policies have nothing to judge
    if promoted is not None:
        config = with_promotion(config, promoted)
    return [v.message for v in analyze_run(run, policy_config=config)
            if v.policy_name == PROMOTION_POLICY and v.mandatory]  # fmt: skip


def shared_versions(run: ProgramRun, ledger: dict[str, Any]) -> list[tuple[str, str]]:
    """Versions both stacks deploy: what promotion compares."""
    target = run.outputs["versions"]
    return [(s, v) for s, versions in ledger["versions"].items() for v, entry in versions.items()
            if entry["status"] != "retired" and target.get(s, {}).get(v, {}).get("status")
            not in (None, "retired")]  # fmt: skip


def test_given_source_ledger_of_the_same_code_when_promoted_then_no_violation(
    promoted_run: ProgramRun, source_ledger: dict[str, Any]
) -> None:
    # GIVEN every version the target deploys was deployed by the source at the same code
    target = promoted_run.outputs["versions"]
    for service, versions in target.items():
        for key, entry in versions.items():
            if entry["status"] != "retired":
                assert entry["codeSha256"] == source_ledger["versions"][service][key]["codeSha256"]
    # THEN promotion passes
    assert promotion_verdicts(promoted_run, source_ledger) == []


def _changed_code(ledger: dict[str, Any], service: str, version: str) -> None:
    ledger["versions"][service][version]["codeSha256"] = "A" * 43 + "="


def _dropped_version(ledger: dict[str, Any], service: str, version: str) -> None:
    del ledger["versions"][service][version]


def _changed_layer(ledger: dict[str, Any], service: str, version: str) -> None:
    for versions in ledger["versions"].values():
        for entry in versions.values():
            entry.pop("layerSha256", None)


def _other_stack(ledger: dict[str, Any], service: str, version: str) -> None:
    ledger["stack"] = "staging"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_changed_code, "would deploy code"),
        (_dropped_version, "has never been deployed to dev"),
        (_changed_layer, "no version of dev deployed"),
        (_other_stack, "is stack 'staging''s"),
    ],
)
def test_given_source_ledger_without_this_code_when_promoted_then_mandatory_violation(
    promoted_run: ProgramRun, source_ledger: dict[str, Any], edit: Callable[..., None],
    expected: str,
) -> None:  # fmt: skip
    service, version = shared_versions(promoted_run, source_ledger)[0]
    ledger = copy.deepcopy(source_ledger)
    edit(ledger, service, version)
    messages = promotion_verdicts(promoted_run, ledger)
    assert any(expected in message for message in messages), messages
    if edit in (_changed_code, _dropped_version):
        assert len(messages) == 1 and f"{service} {version}" in messages[0]


def test_given_promoted_stack_without_source_ledger_when_analyzed_then_it_fails_closed(
    promoted_run: ProgramRun,
) -> None:
    (message,) = promotion_verdicts(promoted_run, None)
    assert f"deploys only what {SOURCE} deployed" in message and "--promote-from" in message


def test_given_stack_not_promoted_when_analyzed_without_source_then_promotion_passes(
    prod_run: ProgramRun,
) -> None:
    assert promotion_verdicts(prod_run, None) == []


@pytest.mark.parametrize(
    ("value", "expected"), [(TARGET, "is this stack"), ("nope", "no stack file Pulumi.nope.yaml")]
)
def test_given_bad_promote_from_when_validated_then_config_error(value: str, expected: str) -> None:
    config = {**stack_config(TARGET), "mlserve:promoteFrom": value}
    with pytest.raises(ConfigError, match=expected):
        settings_from_engine_config(config, stack=TARGET, project_root=PROJECT_ROOT,
                                    today=date.fromisoformat(TODAY))  # fmt: skip


def test_given_preview_with_promote_from_when_run_then_the_source_output_file_is_read(
    dev_run: ProgramRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the source stack's `pulumi stack output --json` and a target stack file promoted from it
    output = tmp_path / "dev-output.json"
    output.write_text(json.dumps(dev_run.outputs))
    stack_file = tmp_path / f"Pulumi.{TARGET}.yaml"
    text = (PROJECT_ROOT / f"Pulumi.{TARGET}.yaml").read_text()
    stack_file.write_text(
        text.replace("config:\n", f"config:\n  mlserve:promoteFrom: {SOURCE}\n", 1)
    )
    args = ["--stack", TARGET, "--config-file", str(stack_file), "--new-stack", "--today", TODAY]
    # WHEN previewed with and without it
    with_source = preview.main([*args, "--promote-from", str(output)])
    shown = capsys.readouterr().out
    without = preview.main(args)
    missing = capsys.readouterr().out
    # THEN only the preview given the source's output passes
    assert with_source == 0, shown
    assert without == 1 and f"[{PROMOTION_POLICY}]" in missing


def test_given_ledger_command_with_promote_from_then_the_pack_config_carries_that_ledger(
    dev_run: ProgramRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, written = tmp_path / "dev-output.json", tmp_path / "ledger.json"
    output.write_text(json.dumps(dev_run.outputs))
    assert ledger.main(["--new-stack", "--promote-from", str(output), "--out", str(written)]) == 0
    promoted = json.loads(written.read_text())[PROMOTION_POLICY]["promoteFrom"]
    assert promoted == ledger_from_stack_output(dev_run.outputs)
    not_an_output = tmp_path / "other.json"
    not_an_output.write_text("[]")
    assert ledger.main(["--new-stack", "--promote-from", str(not_an_output)]) == 2
    assert "neither `pulumi stack output --json`" in capsys.readouterr().err
