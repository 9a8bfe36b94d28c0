"""Property-based config fuzzing: any input parses or fails with key paths, nothing else."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.settings import ConfigError, Settings, parse_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
QUOTED = r'\["(?:[^"\\]|\\.)*"\]'  # a key that is not a plain word, JSON-quoted
KEY_PATH = re.compile(
    rf"^(mlserve:(?:[A-Za-z0-9_-]+|{QUOTED})(?:\.[A-Za-z0-9_-]+|{QUOTED})*|mlserve|stack name): "
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2026-09-01", "2027-06-30", "2020-01-01", "not-a-date", "v1", "v2", "v3"]),
)
anything = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(value, value, value, anything)


version_bodies = st.fixed_dictionaries(
    {
        "code": maybe(st.sampled_from(["services/churn/v1", "services/churn/v2", "missing/v9"])),
        "status": maybe(st.sampled_from(["active", "deprecated", "retired", "beta"])),
    },
    optional={
        "deprecatedOn": maybe(st.sampled_from(["2026-01-01", "2026-09-01", "2027-01-15"])),
        "sunsetOn": maybe(st.sampled_from(["2026-03-01", "2027-06-30", "2028-01-01"])),
        "successor": maybe(st.sampled_from(["v1", "v2", "v3", "v9"])),
        "changelog": maybe(st.text(max_size=300)),
        "pin": maybe(st.integers(min_value=-2, max_value=9)),
        "canary": maybe(st.fixed_dictionaries({"weight": st.floats(-1, 2)})),
        "provisionedConcurrency": maybe(st.integers(min_value=-1, max_value=3)),
        "environment": maybe(st.dictionaries(st.text(max_size=10), st.text(max_size=5))),
        "memoryMb": maybe(st.integers(min_value=0, max_value=20000)),
        "timeoutSeconds": maybe(st.integers(min_value=0, max_value=1000)),
        "architecture": maybe(st.sampled_from(["arm64", "x86_64", "mips"])),
        "runtime": maybe(st.sampled_from(["python3.12", "python3.13", "python2.7"])),
        "handler": maybe(st.sampled_from(["app.handler", "nope.handler", "app"])),
        "bogus": anything,
    },
)
service_bodies = st.fixed_dictionaries(
    {
        "versions": maybe(
            st.dictionaries(
                st.sampled_from(["v1", "v2", "v3", "v0", "x"]), version_bodies, max_size=3
            )
        )
    },
    optional={
        "routes": maybe(
            st.lists(st.sampled_from(["POST /predict", "GET /x", "bad", "GET /health"]))
        ),
        "auth": maybe(st.sampled_from(["none", "iam", "oauth"])),
        "consumers": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "role": st.sampled_from(
                            ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::1:role/b", "x"]
                        ),
                        "versions": st.lists(st.sampled_from(["v1", "v2", "v7"]), max_size=2),
                    }
                ),
                max_size=2,
            )
        ),
        "memoryMb": maybe(st.integers(min_value=0, max_value=20000)),
    },
)
configs = st.fixed_dictionaries(
    {
        "services": maybe(
            st.dictionaries(
                st.sampled_from(["churn", "sentiment", "Bad_Key", "x" * 41, "fraud-score"]),
                service_bodies,
                max_size=3,
            )
        )
    },
    optional={
        "environment": maybe(st.sampled_from(["prod", "dev", "Prod!", ""])),
        "namePrefix": maybe(st.sampled_from(["", "dev-", "UPPER", "x" * 40])),
        "deprecationWindowDays": maybe(st.integers(min_value=-5, max_value=4000)),
        "logRetentionDays": maybe(st.sampled_from([1, 30, 31, 0])),
        "api": maybe(st.fixed_dictionaries({}, optional={"routeQuota": st.integers(-1, 2000)})),
        "unknownKey": anything,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=st.one_of(configs, anything), today=st.dates(date(2025, 1, 1), date(2029, 1, 1)))
def test_given_any_config_when_parsed_then_settings_or_config_error_with_key_paths(
    config: Any, today: date
) -> None:
    try:
        result = parse_settings(
            config if isinstance(config, dict) else {"services": config},
            stack="prod",
            project_root=PROJECT_ROOT,
            today=today,
        )
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert KEY_PATH.match(problem), problem
    else:
        assert isinstance(result, Settings)
        for version in result.deployed_versions():
            assert version.code is not None and version.code.is_dir()
            assert len(version.function_name) <= 64
