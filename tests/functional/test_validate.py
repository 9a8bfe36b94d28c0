"""`mlserve validate` and the contract gate on a scratch copy of the project, changed as a team
would change it: a consistent addition stays green, each inconsistency fails with one message."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlserve.stack_files import stack_files
from tests.support.scratch import PROJECT_ROOT, copy_version, edit_stack, scratch_project

STACKS = list(stack_files())


def mlserve(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlserve", *args, "--root", str(root)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return scratch_project(tmp_path)


def newest(root: Path, service: str) -> str:
    majors = [int(p.name[1:]) for p in (root / "services" / service).glob("v*") if p.is_dir()]
    return f"v{max(majors)}"


def add_version(root: Path, service: str, new: str) -> None:
    """The new major in every stack, active, its code a copy of the newest one's."""
    source = newest(root, service)
    copy_version(root, service, source, new, rename=True)

    def add(services: Any) -> None:
        services[service]["versions"][new] = {
            "code": f"services/{service}/{new}", "status": "active", "changelog": "Next major.",
        }  # fmt: skip

    for stack in STACKS:
        edit_stack(root, stack, add)


def test_given_the_project_when_validated_then_every_stack_and_its_code_passes(
    project: Path,
) -> None:
    result = mlserve(project, "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    for stack in STACKS:
        assert f"stack {stack} (environment" in result.stdout


def test_given_a_consistent_new_major_when_added_by_hand_then_validate_and_the_gate_pass(
    project: Path,
) -> None:
    # GIVEN a new major of the first service, added to every stack and its contract locked
    service = sorted(p.name for p in (project / "services").iterdir() if (p / "v1").is_dir())[0]
    new = f"v{int(newest(project, service)[1:]) + 1}"
    add_version(project, service, new)
    locked = mlserve(project, "contracts", "lock")
    assert locked.returncode == 0, locked.stderr
    # THEN the config, the code and the gate all accept it
    assert mlserve(project, "contracts", "check").returncode == 0
    result = mlserve(project, "validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{service:<16} {new}" in result.stdout


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The problems a failed validate told (stderr: one line each, config problems listed)."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    listed = [line.removeprefix("  - ") for line in lines if line.startswith("  - ")]
    return listed or [line for line in lines if line.startswith("stack ")]


def test_given_a_deployed_version_without_contract_when_validated_then_one_clear_message(
    project: Path,
) -> None:
    (project / "services" / "churn" / "v2" / "contract.py").unlink()
    found = problems(mlserve(project, "validate", "--stack", STACKS[0]))
    assert len(found) == 1, found
    assert "mlserve:services.churn.versions.v2.code:" in found[0]
    assert "has no services/churn/v2/contract.py" in found[0]


def test_given_copied_code_that_still_says_the_old_version_when_validated_then_told(
    project: Path,
) -> None:
    source = newest(project, "churn")
    copy = f"v{int(source[1:]) + 1}"
    copy_version(project, "churn", source, copy, rename=False)

    def add(services: Any) -> None:
        services["churn"]["versions"][copy] = {"code": f"services/churn/{copy}", "status": "active"}

    edit_stack(project, STACKS[0], add)
    found = problems(mlserve(project, "validate", "--stack", STACKS[0]))
    assert len(found) == 1, found
    assert f"the code declares churn {source} but is deployed as churn {copy}" in found[0]


def test_given_config_routes_the_code_does_not_serve_when_validated_then_told(
    project: Path,
) -> None:
    def routes(services: Any) -> None:
        services["churn"]["routes"] = ["POST /predict", "POST /explain"]

    edit_stack(project, STACKS[0], routes)
    found = problems(mlserve(project, "validate", "--stack", STACKS[0]))
    assert len(found) == 1, found
    assert "mlserve:services.churn.routes:" in found[0]
    assert "code declares its routes (POST /predict)" in found[0]


def test_given_missing_weights_when_validated_then_the_load_failure_is_told(project: Path) -> None:
    (project / "services" / "churn" / "v2" / "weights.json").unlink()
    found = problems(mlserve(project, "validate", "--stack", STACKS[0]))
    assert len(found) == 1, found
    assert "mlserve:services.churn.versions.v2.code:" in found[0]
    assert "FileNotFoundError" in found[0] and "weights.json" in found[0]


def test_given_a_stack_file_with_a_duplicate_key_when_validated_then_file_line_col(
    project: Path,
) -> None:
    path = project / f"Pulumi.{STACKS[0]}.yaml"
    path.write_text(path.read_text() + "  mlserve:namePrefix: again-\n")
    result = mlserve(project, "validate", "--stack", STACKS[0])
    assert result.returncode == 1
    assert f"Pulumi.{STACKS[0]}.yaml:" in result.stderr and "duplicate key" in result.stderr
    assert "Traceback" not in result.stderr


def test_given_a_version_whose_example_fails_when_validated_then_the_contract_check_tells(
    project: Path,
) -> None:
    # GIVEN the newest churn major's prediction code broken (it raises on every request)
    version = newest(project, "churn")
    app = project / "services" / "churn" / version / "app.py"
    text = app.read_text()
    broken = re.sub(
        r'(def predict\(.*?:\n    """.*?"""\n)', r'\1    raise ValueError("broken")\n', text,
        count=1, flags=re.S,
    )  # fmt: skip
    assert broken != text
    app.write_text(broken)
    # WHEN validated THEN the route's example does not get a 200: the same check the rollout's
    # pre-traffic hook runs before a new version gets traffic
    found = problems(mlserve(project, "validate", "--stack", STACKS[0]))
    assert len(found) == 1, found
    where = f"mlserve:services.churn.versions.{version}.code"
    assert f"{where}: POST /predict: the example got 500" in found[0]
