"""The real program for each example stack, recorded by the offline engine and sent to the real
pack over its protocol: exactly what `pulumi preview/up --policy-pack policies` would judge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf import json_format

from mlserve.analyzer import RunningPack, Violation, analyze_run, running_pack
from mlserve.analyzer.marshal import resources_from_run
from mlserve.ledger import policy_config, policy_config_from_stack_output
from mlserve.offline import ProgramRun, run_program
from mlserve.stack_files import stack_config
from mlserve_runtime.conventions import LEDGER_POLICIES
from tests.conftest import TODAY

STACKS = ("prod", "dev")
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # the engine's marker of a secret value


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


def ledger_of(run: ProgramRun) -> dict[str, dict[str, Any]]:
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
def test_given_example_stack_first_deploy_when_declared_new_then_no_violation(
    request: pytest.FixtureRequest, packs: dict[str, RunningPack], stack: str
) -> None:
    # GIVEN a stack's first deployment, declared as such (`mlserve ledger --new-stack`)
    run: ProgramRun = request.getfixturevalue(f"{stack}_run")
    violations = analyze_run(run, policy_config=policy_config(None, today=TODAY), pack=packs[stack])
    # THEN every rule holds and nothing is reported
    assert violations == []


@pytest.mark.parametrize("stack", STACKS)
def test_given_example_stack_without_ledger_when_analyzed_then_every_ledger_rule_blocks(
    request: pytest.FixtureRequest, packs: dict[str, RunningPack], stack: str
) -> None:
    # GIVEN no policy config at all: the ledger was forgotten (or withheld)
    run: ProgramRun = request.getfixturevalue(f"{stack}_run")
    violations = analyze_run(run, pack=packs[stack])
    # THEN no mandatory ledger rule passes; the removal policy says what to pass, the others
    # point at it (the advisory format note has nothing to say)
    by_policy = {v.policy_name: v for v in violations}
    assert set(by_policy) == set(LEDGER_POLICIES) - {"ledger-format-current"}
    assert all(v.mandatory for v in violations) and len(violations) == len(by_policy)
    assert "mlserve ledger --from" in by_policy[LEDGER_POLICIES[0]].message
    assert all(
        f"see {LEDGER_POLICIES[0]} for the fix" in v.message
        for name, v in by_policy.items()
        if name != LEDGER_POLICIES[0]
    )


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
        "api-routes-invoke-own-version", "api-grants-name-own-routes",
        # a new queue's ARN (its policies) and URL (its version's environment) come with it
        "no-wildcard-principals", "deprecated-versions-announce-sunset", "queue-grants-scoped",
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


def test_given_secret_services_config_when_analyzed_then_every_rule_still_reads_it(
    prod_run: ProgramRun,
) -> None:
    # GIVEN prod with mlserve:services a secret: every function environment reaches the pack as
    # a secret value (the engine marshals with KeepSecrets)
    run = run_program(
        stack_config("prod"), stack="prod", today=TODAY, secret_keys=["mlserve:services"]
    )
    assert run.error is None, run.error
    functions = [
        json_format.MessageToDict(message.properties)
        for message in resources_from_run(run)
        if message.type == "aws:lambda/function:Function"
    ]
    assert functions and all(SECRET_SIG in json.dumps(f["environment"]) for f in functions)
    # WHEN the pack (started with the stack's config) judges it by the plain deployment's ledger
    violations = analyze_run(run, policy_config=ledger_of(prod_run))
    # THEN every rule ran and holds: nothing is reported, not even a "can't run"
    assert violations == []
