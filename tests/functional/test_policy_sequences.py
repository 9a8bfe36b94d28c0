"""Two deployments in a row: deploy A, then preview B against A's ledger, through the real program
and the real pack. Removing a version is allowed only along its lifecycle."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from mlserve.analyzer import Violation, analyze_run
from mlserve.ledger import policy_config_from_stack_output
from mlserve.offline import ProgramRun, run_program
from mlserve.stack_files import stack_config
from tests.support.stacks import Services, edited

BEFORE_SUNSETS = "2026-11-27"  # churn v1 deprecated, sunset 2027-06-30
AFTER_SUNSETS = "2027-08-01"
REMOVAL = "no-removal-of-non-deprecated-versions"
Edit = Callable[[Services], None]


def deploy(edit: Edit | None = None, *, today: str = BEFORE_SUNSETS) -> ProgramRun:
    """`pulumi up` of the prod stack (optionally edited); its outputs are the next ledger."""
    config = stack_config("prod") if edit is None else edited(stack_config("prod"), edit)
    run = run_program(config, stack="prod", today=today)
    assert run.error is None, run.error
    return run


def preview_after(before: ProgramRun, edit: Edit, *, today: str) -> list[Violation]:
    """`pulumi preview --policy-pack policies --policy-pack-config ledger.json` of the edited
    stack, the ledger built by mlserve ledger from `pulumi stack output --json` of `before`."""
    stack_output = json.loads(json.dumps(before.outputs))
    ledger = policy_config_from_stack_output(stack_output, today=today)
    after = run_program(edited(before.config, edit), stack="prod", preview=True, today=today)
    assert after.error is None, after.error
    return analyze_run(after, policy_config=ledger)


def blocking(violations: list[Violation]) -> list[tuple[str, str]]:
    return [(v.policy_name, v.message) for v in violations if v.mandatory]


@pytest.fixture(scope="module")
def deployed() -> ProgramRun:
    """Deployment A: the prod stack as it is."""
    return deploy()


def delete_sentiment_v1(services: Services) -> None:
    del services["sentiment"]["versions"]["v1"]
    services["sentiment"]["consumers"][1]["versions"] = ["v2"]


def deprecate_sentiment_v1(services: Services) -> None:
    services["sentiment"]["versions"]["v1"]["status"] = "deprecated"


def delete_churn_v1(services: Services) -> None:
    del services["churn"]["versions"]["v1"]


def retire_churn_v1(services: Services) -> None:
    services["churn"]["versions"]["v1"]["status"] = "retired"


def rename_churn_v2_to_v3(services: Services) -> None:
    versions = services["churn"]["versions"]
    versions["v3"] = versions.pop("v2")  # same code folder, new key
    versions["v1"]["successor"] = "v3"


def test_given_active_entry_deleted_when_previewed_then_blocked(deployed: ProgramRun) -> None:
    # GIVEN A with sentiment v1 active WHEN B deletes its entry
    found = blocking(preview_after(deployed, delete_sentiment_v1, today=BEFORE_SUNSETS))
    # THEN the removal policy blocks, naming the version and what to do instead
    assert [policy for policy, _ in found] == [REMOVAL]
    assert found[0][1].count("sentiment v1 was active in the last deployment") == 1
    assert (
        "deprecate it (status: deprecated with deprecatedOn, sunsetOn and successor)" in found[0][1]
    )


def test_given_active_deprecated_when_previewed_then_allowed(deployed: ProgramRun) -> None:
    violations = preview_after(deployed, deprecate_sentiment_v1, today=BEFORE_SUNSETS)
    assert blocking(violations) == []


def test_given_deprecated_entry_deleted_before_sunset_when_previewed_then_blocked(
    deployed: ProgramRun,
) -> None:
    found = blocking(preview_after(deployed, delete_churn_v1, today=BEFORE_SUNSETS))
    assert [policy for policy, _ in found] == [REMOVAL]
    assert "churn v1 was deprecated in the last deployment and its entry is gone" in found[0][1]
    assert "after its sunset 2027-06-30 set status: retired" in found[0][1]


def test_given_deprecated_retired_after_sunset_when_previewed_then_allowed(
    deployed: ProgramRun,
) -> None:
    # GIVEN the clock pinned after churn v1's sunset for the program and the policy alike
    violations = preview_after(deployed, retire_churn_v1, today=AFTER_SUNSETS)
    # THEN retiring it passes (the tombstone stays in the config)
    assert blocking(violations) == []


def test_given_deprecated_retired_before_sunset_when_run_then_config_rejects_it(
    deployed: ProgramRun,
) -> None:
    # GIVEN churn v1 retired on a day before its sunset
    after = run_program(
        edited(deployed.config, retire_churn_v1), stack="prod", preview=True, today=BEFORE_SUNSETS
    )
    # THEN the program stops before registering anything, naming the key and the first allowed day
    assert after.error is not None
    assert "mlserve:services.churn.versions.v1.status" in after.error
    assert "keep it deprecated until 2027-07-01" in after.error
    assert [r.type for r in after.registrations] == ["pulumi:pulumi:Stack"]
    with pytest.raises(ValueError, match="the engine would stop before AnalyzeStack"):
        analyze_run(after)


def test_given_retired_entry_deleted_when_previewed_then_blocked() -> None:
    # GIVEN A2: churn v1 retired after its sunset (its ledger entry says retired)
    retired = deploy(retire_churn_v1, today=AFTER_SUNSETS)
    assert retired.outputs["versions"]["churn"]["v1"]["status"] == "retired"
    # WHEN B deletes the tombstone
    found = blocking(preview_after(retired, delete_churn_v1, today=AFTER_SUNSETS))
    # THEN it is blocked: the key must never be reused
    assert [policy for policy, _ in found] == [REMOVAL]
    assert "churn v1 was retired in the last deployment" in found[0][1]
    assert "Restore it with status: retired" in found[0][1]


def test_given_version_key_renamed_when_previewed_then_blocked(deployed: ProgramRun) -> None:
    # GIVEN churn v2's code moved under a new key v3 (a new function, v2's would be deleted)
    found = blocking(preview_after(deployed, rename_churn_v2_to_v3, today=BEFORE_SUNSETS))
    # THEN blocked as the removal of active churn v2, and as v3 running v2's code
    assert [policy for policy, _ in found] == ["lambda-code-is-its-version", REMOVAL]
    assert "would run the code of churn v2" in found[0][1]
    assert found[1][1].startswith(
        "Prohibits deleting any version's entry from mlserve:services"
    )  # the policy description comes first, then the finding
    assert "churn v2 was active in the last deployment and its entry is gone" in found[1][1]


def test_given_ledger_of_the_first_format_when_previewed_then_upgrade_passes_with_a_note(
    deployed: ProgramRun,
) -> None:
    # GIVEN a stack deployed before the ledger had a format: its `versions` output only, with
    # none of the names, published versions and surfaces recorded since
    old_keys = {"function", "alias", "status", "deprecatedOn", "sunsetOn", "successor"}
    versions = {
        service: {key: {k: v for k, v in entry.items() if k in old_keys}
                  for key, entry in service_versions.items()}
        for service, service_versions in deployed.outputs["versions"].items()
    }  # fmt: skip
    ledger = policy_config_from_stack_output({"versions": versions}, today=BEFORE_SUNSETS)
    # WHEN the unchanged config is previewed against it
    after = run_program(deployed.config, stack="prod", preview=True, today=BEFORE_SUNSETS)
    violations = analyze_run(after, policy_config=ledger)
    # THEN nothing blocks, and one advisory note says the ledger is of the first format
    assert blocking(violations) == []
    notes = [v for v in violations if v.policy_name == "ledger-format-current"]
    assert len(notes) == 1 and not notes[0].mandatory
    assert "the ledger is of the first format" in notes[0].message
