"""no-removal-of-non-deprecated-versions, called directly with a ledger: versions leave only by
their lifecycle, and a stack is judged by a ledger unless it is declared new."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError

from tests.support.pack import (
    ALIAS,
    FUNCTION,
    PROD_SERVICES,
    UNKNOWN,
    check,
    engine_config,
    pack_module,
    stack_args,
    stack_resource,
    use_stack_config,
    version_function,
)

removal = pack_module("removal")
VERSIONS: dict[str, Any] = {
    "churn": {
        "v1": {"function": "churn_v1", "alias": "prod_v1", "status": "deprecated",
               "lambdaVersion": "7", "pinned": False, "deprecatedOn": "2026-09-01",
               "sunsetOn": "2027-06-30", "successor": "v2"},
        "v2": {"function": "churn_v2", "alias": "prod_v2", "status": "active",
               "lambdaVersion": "3", "pinned": True},
    }
}  # fmt: skip
LEDGER: dict[str, Any] = {
    "ledgerVersion": 2, "stack": "prod", "environment": "prod", "namePrefix": "",
    "deprecationWindowDays": 180, "domain": None, "versions": VERSIONS,
}  # fmt: skip


def deployed(*versions: str, environment: str = "prod") -> list[PolicyResource]:
    """The churn functions of the new state, each with its environment's alias."""
    resources = []
    for version in versions:
        resources.append(
            stack_resource(FUNCTION, version_function("churn", version), name=f"churn-{version}")
        )
        alias = {"name": f"{environment}_{version}", "functionName": f"churn_{version}"}
        resources.append(stack_resource(ALIAS, alias, name=f"churn-{version}-alias"))
    return resources


def verdict(
    monkeypatch: pytest.MonkeyPatch,
    services: dict[str, Any],
    resources: list[PolicyResource],
    *,
    ledger: Any = LEDGER,
    today: str | None = "2026-11-27",
    new_stack: bool | None = None,
    stack: str = "prod",
) -> list[str]:
    """The messages for a new config and state, judged against the ledger on `today`."""
    use_stack_config(monkeypatch, engine_config(services), stack=stack)
    config: dict[str, Any] = {}
    if ledger is not None:
        config["ledger"] = ledger
    if today is not None:
        config["today"] = today
    if new_stack is not None:
        config["newStack"] = new_stack
    return check(removal.no_removal_of_non_deprecated_versions, stack_args(resources, config))


def edited(**versions: dict[str, Any] | None) -> dict[str, Any]:
    """The prod services with some churn versions replaced (None deletes the entry)."""
    services = copy.deepcopy(PROD_SERVICES)
    for key, entry in versions.items():
        if entry is None:
            del services["churn"]["versions"][key]
        else:
            services["churn"]["versions"][key] = entry
    return services


RETIRED_V1 = {"status": "retired", "deprecatedOn": "2026-09-01", "sunsetOn": "2027-06-30",
              "successor": "v2"}  # fmt: skip
DEPRECATED_V2 = {"status": "deprecated", "deprecatedOn": "2026-12-01", "sunsetOn": "2027-06-30",
                 "successor": "v3"}  # fmt: skip


def test_given_nothing_removed_when_checked_then_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert verdict(monkeypatch, PROD_SERVICES, deployed("v1", "v2")) == []


def test_given_active_to_deprecated_when_checked_then_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = edited(v2=DEPRECATED_V2, v3={"status": "active"})
    assert verdict(monkeypatch, services, deployed("v1", "v2", "v3")) == []


def test_given_active_entry_deleted_when_checked_then_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN churn v2 (active in the ledger) deleted from the config and so from the stack
    messages = verdict(monkeypatch, edited(v2=None), deployed("v1"))
    # THEN one violation names it and says to deprecate instead
    assert len(messages) == 1
    assert messages[0].startswith(
        "churn v2 was active in the last deployment and its entry is gone from mlserve:services"
    )
    assert "deprecate it" in messages[0]


def test_given_active_version_retired_directly_when_checked_then_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN churn v2 kept in the config but no longer deployed without being deprecated first
    messages = verdict(monkeypatch, edited(v2={**RETIRED_V1, "successor": "v3"}), deployed("v1"))
    assert len(messages) == 1 and "churn v2 was active" in messages[0]
    assert "would no longer be deployed" in messages[0]


def test_given_deprecated_entry_deleted_before_sunset_when_checked_then_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    messages = verdict(monkeypatch, edited(v1=None), deployed("v2"))
    assert len(messages) == 1 and "churn v1 was deprecated" in messages[0]
    assert "after its sunset 2027-06-30 set status: retired" in messages[0]


def test_given_deprecated_retired_before_sunset_when_checked_then_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN churn v1 retired (entry kept) on 2027-06-30, its sunset day itself
    messages = verdict(monkeypatch, edited(v1=RETIRED_V1), deployed("v2"), today="2027-06-30")
    assert len(messages) == 1
    assert "before its sunset 2027-06-30" in messages[0]
    assert "retire it from 2027-07-01" in messages[0]


def test_given_deprecated_retired_after_sunset_when_checked_then_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert verdict(monkeypatch, edited(v1=RETIRED_V1), deployed("v2"), today="2027-07-01") == []


def test_given_deprecated_entry_deleted_after_sunset_when_checked_then_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the sunset has passed, but the entry is deleted instead of retired
    messages = verdict(monkeypatch, edited(v1=None), deployed("v2"), today="2027-08-01")
    assert len(messages) == 1 and "entry is gone" in messages[0]


def test_given_retired_entry_deleted_when_checked_then_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = copy.deepcopy(LEDGER)
    ledger["versions"]["churn"]["v1"]["status"] = "retired"
    messages = verdict(monkeypatch, edited(v1=None), deployed("v2"), ledger=ledger)
    assert len(messages) == 1 and "churn v1 was retired" in messages[0]
    assert "Restore it with status: retired" in messages[0]


def test_given_retired_version_deployed_again_when_checked_then_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = copy.deepcopy(LEDGER)
    ledger["versions"]["churn"]["v1"]["status"] = "retired"
    messages = verdict(monkeypatch, PROD_SERVICES, deployed("v1", "v2"), ledger=ledger)
    assert len(messages) == 1 and "never deployed again" in messages[0]


def test_given_version_key_renamed_when_checked_then_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN v2's code moved to a new key v3 (same code, new name)
    services = edited(v2=None, v3={"code": "services/churn/v2", "status": "active"})
    messages = verdict(monkeypatch, services, deployed("v1", "v3"))
    assert len(messages) == 1 and messages[0].startswith("churn v2 was active")


def test_given_environment_renamed_when_checked_then_the_aliases_callers_use_are_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the same versions deployed, but every alias renamed by a new mlserve:environment
    messages = verdict(monkeypatch, PROD_SERVICES, deployed("v1", "v2", environment="production"))
    # THEN both versions callers can call are told gone (v1 is deprecated, before its sunset)
    assert len(messages) == 2
    assert any("churn v2 was active" in m and "alias prod_v2 of churn_v2" in m for m in messages)
    assert any("churn v1 is deprecated" in m and "alias prod_v1" in m for m in messages)
    assert all("mlserve:environment" in m or "keep it deployed" in m for m in messages)


def test_given_no_ledger_when_checked_then_it_fails_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (message,) = verdict(monkeypatch, PROD_SERVICES, deployed("v1", "v2"), ledger=None)
    assert message.startswith("no ledger:") and "newStack: true" in message


def test_given_declared_new_stack_when_checked_then_nothing_to_compare(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert verdict(monkeypatch, PROD_SERVICES, [], ledger=None, new_stack=True) == []


@pytest.mark.parametrize(
    ("ledger", "new_stack", "stack", "expected"),
    [
        (LEDGER, True, "prod", "newStack: true but also gives a ledger"),
        ({**LEDGER, "stack": "dev"}, None, "prod", "is stack 'dev''s, but this is stack 'prod'"),
        ({**LEDGER, "versions": {}}, None, "prod", "lists no versions"),
        ({}, None, "prod", "lists no versions"),
        ({**LEDGER, "ledgerVersion": 9}, None, "prod", "ledgerVersion 9"),
        ({**LEDGER, "versions": {"churn": {"v2": {"status": "gone"}}}}, None, "prod",
         "versions.churn.v2 has no status"),
        ({**LEDGER, "versions": {"churn": {"2": {"status": "active"}}}}, None, "prod",
         "versions.churn.2 is not a version key"),
        ("churn", None, "prod", "is not an object"),
    ],
    ids=["new-stack-with-ledger", "other-stack", "no-versions", "empty", "unknown-format",
         "bad-status", "bad-version-key", "not-an-object"],
)  # fmt: skip
def test_given_ledger_that_cannot_be_used_when_checked_then_mandatory_violation(
    monkeypatch: pytest.MonkeyPatch, ledger: Any, new_stack: bool | None, stack: str,
    expected: str,
) -> None:  # fmt: skip
    messages = verdict(
        monkeypatch, PROD_SERVICES, deployed("v1", "v2"), ledger=ledger, new_stack=new_stack,
        stack=stack,
    )  # fmt: skip
    assert len(messages) == 1 and expected in messages[0], messages


def test_given_first_format_ledger_when_checked_then_it_is_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a ledger of the first format (versions by service, no ledgerVersion)
    assert verdict(monkeypatch, PROD_SERVICES, deployed("v1", "v2"), ledger=VERSIONS) == []
    messages = verdict(monkeypatch, edited(v2=None), deployed("v1"), ledger=VERSIONS)
    assert len(messages) == 1 and "churn v2 was active" in messages[0]


def test_given_bad_today_when_checked_then_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = verdict(monkeypatch, PROD_SERVICES, deployed("v1", "v2"), today="2027-02-30")
    assert messages == ["policy config `today` '2027-02-30' is not a YYYY-MM-DD day"]


def test_given_unreadable_services_when_checked_then_violation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG", '{"mlserve:services": "{broken"}')
    config = {"ledger": LEDGER, "today": "2026-11-27"}
    messages = check(
        removal.no_removal_of_non_deprecated_versions, stack_args(deployed("v1", "v2"), config)
    )
    assert len(messages) == 1 and "could not be read" in messages[0]


def test_given_unknown_function_names_when_previewed_then_cannot_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a preview where churn v2's name is unknown: whether v2 is still deployed is unknown
    resources = [
        *deployed("v1"),
        stack_resource(FUNCTION, {**version_function("churn", "v2"), "name": UNKNOWN}, name="v2"),
    ]
    with pytest.raises(UnknownValueError):
        verdict(monkeypatch, PROD_SERVICES, resources)


def test_given_removal_policy_then_config_schema_declares_what_it_reads() -> None:
    schema = removal.no_removal_of_non_deprecated_versions.config_schema
    assert set(schema.properties) == {"ledger", "newStack", "today"}
    assert schema.properties["newStack"]["type"] == "boolean"


def test_given_unreadable_entry_when_checked_then_violation_says_so_not_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN churn v2's entry present but with a status the pack cannot read
    messages = verdict(monkeypatch, edited(v2={"status": "live"}), deployed("v1", "v2"))
    # THEN the verdict says it could not be judged, instead of calling it deleted
    assert messages == [
        "churn v2's entry in mlserve:services could not be read, so its removal cannot be "
        "judged; fix it (see mlserve-config-readable)"
    ]


QUEUE = "aws:sqs/queue:Queue"
V1_QUEUES = {"work": "churn_v1-prod", "results": "churn_v1-prod-results",
             "deadLetter": "churn_v1-prod-dlq"}  # fmt: skip


def with_queue(depths: Any) -> dict[str, Any]:
    """The ledger with churn v1 a queue version whose queues held `depths` messages."""
    ledger = copy.deepcopy(LEDGER)
    entry = ledger["versions"]["churn"]["v1"]
    entry["surface"] = {"routes": [], "auth": "none", "queue": {**V1_QUEUES, "route": "POST /p"}}
    entry["queueMessages"] = depths
    return ledger


@pytest.mark.parametrize(
    ("depths", "named"),
    [
        ({"work": 0, "results": 2, "deadLetter": 0}, "results queue churn_v1-prod-results held 2"),
        ({"work": 0, "results": 0, "deadLetter": 7}, "dead-letter queue churn_v1-prod-dlq held 7"),
        (3, "work queue churn_v1-prod held 3"),  # the first ledgers wrote the work queue's alone
    ],
)
def test_given_retired_queue_version_whose_queues_held_messages_then_blocked(
    monkeypatch: pytest.MonkeyPatch, depths: Any, named: str
) -> None:
    messages = verdict(monkeypatch, edited(v1=RETIRED_V1), deployed("v2"), today="2027-07-01",
                       ledger=with_queue(depths))  # fmt: skip
    assert any(named in message for message in messages), messages


def test_given_retired_queue_version_whose_queues_were_empty_then_it_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = with_queue({"work": 0, "results": 0, "deadLetter": 0})
    assert verdict(monkeypatch, edited(v1=RETIRED_V1), deployed("v2"), today="2027-07-01",
                   ledger=empty) == []  # fmt: skip


def test_given_queue_with_messages_kept_then_it_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    resources = [*deployed("v1", "v2"), *(stack_resource(QUEUE, {"name": n}, name=n)
                                          for n in V1_QUEUES.values())]  # fmt: skip
    assert verdict(monkeypatch, PROD_SERVICES, resources, ledger=with_queue({"work": 5})) == []
