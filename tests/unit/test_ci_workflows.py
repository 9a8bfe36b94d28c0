"""The CI workflows keep the guard out of a pull request's hands: the preview runs from the base
branch with the base branch's pack and ledger tool, a stack is new only when it does not exist,
and nothing but the protected branch deploys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((WORKFLOWS / name).read_text())
    return loaded


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job["steps"]]


def runs(document: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps(document))


def test_given_preview_workflow_then_it_runs_from_the_base_branch_only() -> None:
    document = workflow("preview.yml")
    # `pull_request` would run the pull request's own copy of this file, which it can rewrite
    assert set(document["on"]) == {"pull_request_target"}
    checkouts = {step["with"]["path"]: step["with"] for step in steps(document)
                 if str(step.get("uses", "")).startswith("actions/checkout@")}  # fmt: skip
    assert checkouts["base"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert checkouts["pr"]["ref"] == "${{ github.event.pull_request.head.sha }}"
    assert all(checkout["persist-credentials"] is False for checkout in checkouts.values())


def test_given_preview_workflow_then_pack_and_ledger_tool_come_from_the_base_checkout() -> None:
    document = workflow("preview.yml")
    script = runs(document)
    assert "-r base/policies/requirements.txt" in script
    assert '--policy-pack "$GITHUB_WORKSPACE/base/policies"' in script
    assert "--policy-pack-config" in script
    ledger_steps = [step for step in steps(document) if "mlserve ledger" in str(step.get("run"))]
    assert ledger_steps and all(step.get("working-directory") == "base" for step in ledger_steps)
    preview_steps = [step for step in steps(document) if "pulumi preview" in str(step.get("run"))]
    assert preview_steps and all(step.get("working-directory") == "pr" for step in preview_steps)


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_given_workflow_then_new_stack_only_when_the_stack_does_not_exist(name: str) -> None:
    for step in steps(workflow(name)):
        script = str(step.get("run", ""))
        if "--new-stack" not in script:
            continue
        # the existence check comes first, the new-stack ledger only in its else branch
        check = script.index("pulumi stack ls --json")
        otherwise = script.index("else")
        assert check < script.index("mlserve ledger --from") < otherwise
        assert otherwise < script.index("--new-stack")
        assert "set -euo pipefail" in script  # a failed check fails the step, never "new"


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_given_workflow_then_never_unguarded(name: str) -> None:
    script = runs(workflow(name))
    assert "--skip-preview" not in script
    for command in ("pulumi preview", "pulumi up"):
        for line in script.splitlines():
            if line.strip().startswith(command):
                block = script[script.index(line) :]
                assert "--policy-pack" in block and "--policy-pack-config" in block


def test_given_workflows_then_only_the_protected_branch_deploys() -> None:
    assert "pulumi up" not in runs(workflow("preview.yml"))
    deploy = workflow("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert "pulumi up" in runs(deploy)
