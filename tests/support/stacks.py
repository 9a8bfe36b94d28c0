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
# A custom domain for generated stacks (`mlserve:api.domain`), its certificate in their region.
GENERATED_DOMAIN = {
    "name": "models.generated.example.com",
    "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/"
    "0c9e5b1a-7d3f-4e2b-9a6c-5f4e3d2c1b0a",
}


def edited(config: dict[str, str], edit: Callable[[Services], None]) -> dict[str, str]:
    """A copy of an engine config whose `mlserve:services` went through `edit`."""
    services = copy.deepcopy(json.loads(config["mlserve:services"]))
    edit(services)
    return {**config, "mlserve:services": json.dumps(services)}


def with_api(config: dict[str, str], **api: Any) -> dict[str, str]:
    """A copy of an engine config with `mlserve:api` keys set (`layout="perService"`)."""
    return {
        **config,
        "mlserve:api": json.dumps({**json.loads(config.get("mlserve:api", "{}")), **api}),
    }


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


def generated_code(
    service: str, version: str, template: str = TEMPLATES[0], *, extra_routes: int = 0
) -> str:
    """build/generated-code/<service>/<version>: the template version's code, its contract
    declaring `service` `version` (and `extra_routes` more predict routes, `POST
    /predict-<n>`, all answered by its predict function); the folder relative to the project, as
    a stack gives it."""
    suffix = f"-{extra_routes}-routes" if extra_routes else ""
    target = PROJECT_ROOT / "build" / "generated-code" / service / f"{version}{suffix}"
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
        routes = "".join(
            f'        "POST /predict-{n:02d}": {{"request": "PredictRequest", '
            f'"response": "PredictResponse"}},\n'
            for n in range(extra_routes)
        )
        assert not routes or '    "routes": {\n' in text, f"{template}/contract.py routes moved"
        contract.write_text(
            text.replace(declared, surface).replace(
                '    "routes": {\n', '    "routes": {\n' + routes
            )
        )
        if extra_routes:
            app = target / "app.py"
            served = '{"POST /predict": predict}'
            assert served in app.read_text(), f"{template}/app.py no longer serves {served}"
            app.write_text(
                app.read_text().replace(
                    served, '{route: predict for route in contract.SURFACE["routes"]}'
                )
            )
    return target.relative_to(PROJECT_ROOT).as_posix()
