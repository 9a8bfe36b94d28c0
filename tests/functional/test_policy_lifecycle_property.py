"""Random lifecycle edits between two deployments, through the real program and the real pack:
the removal verdicts agree with the rule "an active version is never removed; a removed version
was deprecated and past its sunset (or already retired), and its entry stays as a tombstone"."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mlserve.analyzer import analyze_run
from mlserve.ledger import policy_config_from_stack_output
from mlserve.offline import run_program
from tests.support.stacks import generated_code

REMOVAL = "no-removal-of-non-deprecated-versions"
DAYS = ["2026-11-27", "2027-08-01", "2028-03-01"]
IDENTITY = re.compile(r"^([a-z][a-z0-9-]*) (v\d+)\b", re.MULTILINE)  # after the description


def version(status: str, code: str, sunset: str, successor: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "status": status}
    if status != "active":
        body.update(deprecatedOn="2026-09-01", sunsetOn=sunset, successor=successor)
    return body


START = {
    "churn": {
        "versions": {
            "v1": version("deprecated", "services/churn/v1", "2027-06-30", "v3"),
            "v2": version("active", "services/churn/v2", "", None),
            "v3": version("active", generated_code("churn", "v3", "services/churn/v2"), "", None),
        }
    }
}

edits = st.lists(
    st.tuples(
        st.sampled_from(["delete", "deprecate", "retire", "rename", "reactivate"]),
        st.sampled_from(["v1", "v2", "v3"]),
    ),
    min_size=1,
    max_size=3,
)


def apply(services: dict[str, Any], edit: tuple[str, str]) -> None:
    """One config edit a user might make to churn's versions."""
    action, key = edit
    versions = services["churn"]["versions"]
    if key not in versions:
        return
    if action == "delete":
        del versions[key]
    elif action == "deprecate":
        versions[key].update(
            status="deprecated", deprecatedOn="2026-09-01", sunsetOn="2027-06-30", successor="v3"
        )
    elif action == "retire":
        versions[key]["status"] = "retired"
    elif action == "rename":
        versions[f"v{int(key[1:]) + 3}"] = versions.pop(key)
    else:
        versions[key]["status"] = "active"


def engine(services: dict[str, Any]) -> dict[str, str]:
    return {
        "aws:region": "us-east-1",
        "mlserve:environment": "prod",
        "mlserve:services": json.dumps(services),
    }


def expected_blocks(ledger: dict[str, Any], services: dict[str, Any], today: date) -> set[str]:
    """The rule, stated independently of the pack."""
    blocked = set()
    current = services["churn"]["versions"]
    for key, entry in ledger["churn"].items():
        now = current.get(key)
        deployed = now is not None and now["status"] != "retired"
        if now is None:
            blocked.add(key)  # entries are never deleted: retiring is the way
        elif entry["status"] == "retired" and deployed:
            blocked.add(key)  # a retired key is never deployed again
        elif not deployed and entry["status"] == "active":
            blocked.add(key)
        elif not deployed and date.fromisoformat(entry["sunsetOn"]) >= today:
            blocked.add(key)  # deprecated, but its sunset day has not passed
    return blocked


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=edits, first_day=st.sampled_from(DAYS[:1]), second_day=st.sampled_from(DAYS))
def test_given_random_lifecycle_edits_when_previewed_then_verdicts_follow_the_rule(
    changes: list[tuple[str, str]], first_day: str, second_day: str
) -> None:
    # GIVEN deployment A and its ledger
    before = run_program(engine(START), stack="prod", today=first_day)
    assert before.error is None, before.error
    stack_output = json.loads(json.dumps(before.outputs))
    policy_config = policy_config_from_stack_output(stack_output, today=second_day)
    # WHEN B edits the versions at a later date
    services = copy.deepcopy(START)
    for change in changes:
        apply(services, change)
    after = run_program(engine(services), stack="prod", preview=True, today=second_day)
    event("rejected by config validation" if after.error else "previewed")
    if after.error is not None:
        # the config itself is invalid (e.g. retired before its sunset): nothing is registered
        assert [r.type for r in after.registrations] == ["pulumi:pulumi:Stack"]
        return
    violations = analyze_run(after, policy_config=policy_config)
    # THEN the removal policy blocks exactly the versions the rule forbids removing
    blocked = {
        match.group(2)
        for v in violations
        if v.policy_name == REMOVAL and v.mandatory
        if (match := IDENTITY.search(v.message))
    }
    expected = expected_blocks(stack_output["versions"], services, date.fromisoformat(second_day))
    event("blocked" if expected else "allowed")
    assert blocked == expected, (changes, second_day, [v.message for v in violations])
