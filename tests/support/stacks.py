"""Stack configs for tests: the example stack files, edited copies, and generated ones."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

Services = dict[str, Any]


def edited(config: dict[str, str], edit: Callable[[Services], None]) -> dict[str, str]:
    """A copy of an engine config whose `mlserve:services` went through `edit`."""
    services = copy.deepcopy(json.loads(config["mlserve:services"]))
    edit(services)
    return {**config, "mlserve:services": json.dumps(services)}


def generated_config(
    services: int, versions: int, *, environment: str = "gen", name_prefix: str = ""
) -> dict[str, str]:
    """A config with `services` services of `versions` active versions each, all on real code."""
    code = ["services/churn/v1", "services/sentiment/v1"]
    return {
        "aws:region": "us-east-1",
        "mlserve:environment": environment,
        "mlserve:namePrefix": name_prefix,
        "mlserve:services": json.dumps(
            {
                f"model-{s}": {
                    "versions": {
                        f"v{v}": {"code": code[(s + v) % 2], "status": "active"}
                        for v in range(1, versions + 1)
                    }
                }
                for s in range(services)
            }
        ),
    }
