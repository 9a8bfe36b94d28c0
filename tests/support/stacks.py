"""Stack configs for tests: the example stack files, edited copies, and generated ones."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ("services/churn/v1", "services/sentiment/v1")

Services = dict[str, Any]


def edited(config: dict[str, str], edit: Callable[[Services], None]) -> dict[str, str]:
    """A copy of an engine config whose `mlserve:services` went through `edit`."""
    services = copy.deepcopy(json.loads(config["mlserve:services"]))
    edit(services)
    return {**config, "mlserve:services": json.dumps(services)}


def generated_config(
    services: int, versions: int, *, environment: str = "gen", name_prefix: str = ""
) -> dict[str, str]:
    """A config with `services` services of `versions` active versions each, all on real code
    (a copy of an example version's, declaring the version it is deployed as)."""
    return {
        "aws:region": "us-east-1",
        "mlserve:environment": environment,
        "mlserve:namePrefix": name_prefix,
        "mlserve:services": json.dumps(
            {
                f"model-{s}": {
                    "versions": {
                        f"v{v}": {
                            "code": generated_code(f"model-{s}", f"v{v}", TEMPLATES[(s + v) % 2]),
                            "status": "active",
                        }
                        for v in range(1, versions + 1)
                    }
                }
                for s in range(services)
            }
        ),
    }


def generated_code(service: str, version: str, template: str = TEMPLATES[0]) -> str:
    """build/generated-code/<service>/<version>: the template version's code, its contract
    declaring `service` `version`; the folder relative to the project, as a stack gives it."""
    target = PROJECT_ROOT / "build" / "generated-code" / service / version
    source = PROJECT_ROOT / template
    surface = f'"service": "{service}",\n    "version": "{version}",'
    if (
        not (target / "contract.py").is_file()
        or surface not in (target / "contract.py").read_text()
    ):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        contract = target / "contract.py"
        old_service, old_version = source.parts[-2], source.parts[-1]
        declared = f'"service": "{old_service}",\n    "version": "{old_version}",'
        text = contract.read_text()
        assert declared in text, f"{template}/contract.py no longer declares its SURFACE so"
        contract.write_text(text.replace(declared, surface))
    return target.relative_to(PROJECT_ROOT).as_posix()
