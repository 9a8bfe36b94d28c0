"""Fuzzed configs through the real program: a bad config registers nothing and says where."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mlserve.offline import run_program
from tests.unit.test_config_fuzz import anything, configs


def mostly(valid: list[Any]) -> st.SearchStrategy[Any]:
    """A valid value nine times in ten, anything otherwise."""
    return st.one_of(*[st.sampled_from(valid)] * 9, anything)


versions = st.fixed_dictionaries(
    {
        "code": mostly(["services/churn/v1", "services/sentiment/v2"]),
        "status": mostly(["active"]),
    },
    optional={
        "pin": mostly([1, 2, 5]),
        "memoryMb": mostly([128, 1024]),
        "architecture": mostly(["arm64", "x86_64"]),
        "environment": mostly([{"LOG_LEVEL": "INFO"}]),
    },
)
plausible = st.fixed_dictionaries(
    {
        "services": st.dictionaries(
            st.sampled_from(["churn", "sentiment", "fraud-score"]),
            st.fixed_dictionaries(
                {"versions": st.dictionaries(st.sampled_from(["v1", "v2"]), versions, min_size=1)},
                optional={"routes": mostly([["POST /predict"], ["POST /score", "GET /info"]])},
            ),
            min_size=1,
            max_size=2,
        )
    },
    optional={"namePrefix": mostly(["", "qa-"]), "logRetentionDays": mostly([7, 30])},
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=plausible)
def test_given_plausible_config_when_program_runs_then_all_or_nothing(
    config: dict[str, Any],
) -> None:
    all_or_nothing(config)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs)
def test_given_fuzzed_config_when_program_runs_then_all_or_nothing(config: dict[str, Any]) -> None:
    all_or_nothing(config)


def all_or_nothing(config: dict[str, Any]) -> None:
    """Either the config is rejected with nothing registered, or the program deploys it. The one
    failure a config check cannot see is a pin above what the (fresh) stack has published: the
    alias waits for the function's version and is never registered; the policy pack stops such a
    pin in the preview `pulumi up` runs first, before anything changes."""
    engine = {
        f"mlserve:{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
    }
    run = run_program(engine, stack="fuzz", today="2026-11-27")
    registered = [r.type for r in run.registrations if r.type != "pulumi:pulumi:Stack"]
    if (
        run.error is not None
        and ".pin: " in run.error
        and "is not a published version" in run.error
    ):
        event("pin above the newest published version")
        where = run.error.split(".pin: ", 1)[0].removeprefix("mlserve:services.")
        service, _, version = where.split(".")
        assert not any(
            r.type == "aws:lambda/alias:Alias" and r.name == f"{service}-{version}-alias"
            for r in run.registrations
        )
        return
    event("rejected" if run.error else "deployed")
    if run.error is not None:
        assert run.error.startswith("invalid stack config")
        assert "mlserve" in run.error
        assert registered == []
    else:
        assert "aws:lambda/function:Function" in registered
