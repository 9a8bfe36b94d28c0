"""The real program for each example stack, recorded by the offline engine and sent to the real
pack over its protocol: exactly what `pulumi preview/up --policy-pack policies` would judge."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from mlserve.analyzer import RunningPack, Violation, analyze_run, running_pack
from mlserve.ledger import policy_config_from_stack_output
from mlserve.offline import ProgramRun, run_program
from mlserve.stack_files import stack_config
from tests.conftest import TODAY

STACKS = ("prod", "dev")


@pytest.fixture(scope="module")
def packs() -> Iterator[dict[str, RunningPack]]:
    """One pack per example stack, started with that stack's config (as the engine does)."""
    with (
        running_pack(stack_config("prod"), stack="prod") as prod,
        running_pack(stack_config("dev"), stack="dev") as dev,
    ):
        yield {"prod": prod, "dev": dev}


@pytest.fixture(scope="module")
def previews() -> dict[str, ProgramRun]:
    """Each example stack in preview mode: computed values unknown, as on a first preview."""
    runs = {
        stack: run_program(stack_config(stack), stack=stack, preview=True, today=TODAY)
        for stack in STACKS
    }
    assert all(run.error is None for run in runs.values())
    return runs


def ledger_of(run: ProgramRun) -> dict[str, object]:
    """The policy config built from the run's outputs as `pulumi stack output --json` shows them."""
    return policy_config_from_stack_output(json.loads(json.dumps(run.outputs)), today=TODAY)


def mandatory(violations: list[Violation]) -> list[str]:
    return [f"{v.policy_name}: {v.message}" for v in violations if v.mandatory]


@pytest.mark.parametrize("stack", STACKS)
def test_given_example_stack_deployed_when_analyzed_with_its_ledger_then_no_violation(
    request: pytest.FixtureRequest, packs: dict[str, RunningPack], stack: str
) -> None:
    # GIVEN the stack as `pulumi up` would leave it, and the ledger of that same state
    run: ProgramRun = request.getfixturevalue(f"{stack}_run")
    # WHEN the engine runs Analyze per resource and AnalyzeStack
    violations = analyze_run(run, policy_config=ledger_of(run), pack=packs[stack])
    # THEN nothing at all is reported: every rule holds on the real program
    assert violations == []


@pytest.mark.parametrize("stack", STACKS)
def test_given_example_stack_first_deploy_when_analyzed_then_only_the_no_ledger_note(
    request: pytest.FixtureRequest, packs: dict[str, RunningPack], stack: str
) -> None:
    # GIVEN no ledger (a stack's first deployment)
    run: ProgramRun = request.getfixturevalue(f"{stack}_run")
    violations = analyze_run(run, pack=packs[stack])
    # THEN one advisory note from the removal policy, and it passes
    assert [(v.policy_name, v.enforcement_level) for v in violations] == [
        ("no-removal-of-non-deprecated-versions", "advisory")
    ]
    assert "policy config `ledger` is not set" in violations[0].message


@pytest.mark.parametrize("stack", STACKS)
def test_given_example_stack_previewed_when_analyzed_then_unknowns_never_block(
    request: pytest.FixtureRequest,
    packs: dict[str, RunningPack],
    previews: dict[str, ProgramRun],
    stack: str,
) -> None:
    # GIVEN a preview (alias versions, API ARNs and more unknown) against the last deployment
    deployed: ProgramRun = request.getfixturevalue(f"{stack}_run")
    run = previews[stack]
    violations = analyze_run(run, policy_config=ledger_of(deployed), pack=packs[stack])
    # THEN no mandatory violation, only "can't run policy ... during preview" advisories
    assert mandatory(violations) == []
    assert violations, "a preview with unknowns must say which checks it could not run"
    assert all(
        v.enforcement_level == "advisory" and v.message.startswith("can't run policy")
        for v in violations
    ), violations
    assert {v.policy_name for v in violations} <= {
        "lambda-alias-serves-published-version", "lambda-permissions-scoped",
    }  # fmt: skip


def test_given_preview_when_converted_then_pack_saw_unknown_values(
    packs: dict[str, RunningPack], previews: dict[str, ProgramRun], prod_run: ProgramRun
) -> None:
    # GIVEN the prod preview WHEN analyzed THEN the unknown sourceArn of every API grant was seen
    violations = analyze_run(
        previews["prod"], policy_config=ledger_of(prod_run), pack=packs["prod"]
    )
    grants = [r for r in previews["prod"].of_type("aws:lambda/permission:Permission")
              if r.inputs["principal"] == "apigateway.amazonaws.com"]  # fmt: skip
    noted = {v.urn for v in violations if v.policy_name == "lambda-permissions-scoped"}
    assert noted == {grant.urn for grant in grants}


def test_given_pack_for_another_stack_when_used_then_refused(
    packs: dict[str, RunningPack], prod_run: ProgramRun
) -> None:
    with pytest.raises(ValueError, match="the engine starts the pack with the stack's config"):
        analyze_run(prod_run, pack=packs["dev"])
