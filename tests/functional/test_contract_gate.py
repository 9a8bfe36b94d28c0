"""The contract gate end to end: real contract.py files on disk, the lock and check commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlserve.contracts import (
    canonical_json,
    check_all,
    contract_schemas,
    find_contracts,
    main,
)
from mlserve.contracts.gate import ENVELOPE_LOCK, envelope_problems, lock_all
from tests.support.scratch import scratch_project

REPO_ROOT = Path(__file__).resolve().parents[2]

CONTRACT = """
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Features(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenure_months: TENURE
    monthly_spend: float = Field(ge=0)
    EXTRA_FEATURE


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    features: Features


class PredictResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    probability: float = Field(ge=0, le=1)
    RESPONSE_FIELD
"""


def write_contract(
    root: Path,
    version: str = "v2",
    tenure: str = "int | None = Field(default=None, ge=0)",
    extra_feature: str = "",
    response_field: str = "",
) -> Path:
    """Write services/demo/<version>/contract.py into a scratch project."""
    text = (
        CONTRACT.replace("TENURE", tenure)
        .replace("EXTRA_FEATURE", extra_feature)
        .replace("RESPONSE_FIELD", response_field)
    )
    path = root / "services" / "demo" / version / "contract.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def lock_main(argv: list[str]) -> int:
    return main(["lock", *argv])


def check_main(argv: list[str]) -> int:
    return main(["check", *argv])


def lock_files(root: Path, version: str = "v2") -> list[str]:
    """Names of the lock files of one major, oldest first."""
    return sorted(path.name for path in (root / "contracts" / "demo" / version).glob("*.json"))


def test_a_new_major_is_locked_as_0001_in_canonical_form(tmp_path: Path) -> None:
    # GIVEN a project whose demo v2 contract has never been locked
    write_contract(tmp_path)
    # WHEN the lock command runs
    assert lock_main(["--root", str(tmp_path)]) == 0
    # THEN 0001.json holds both schemas, canonically serialized, and the gate passes
    assert lock_files(tmp_path) == ["0001.json"]
    text = (tmp_path / "contracts/demo/v2/0001.json").read_text()
    assert text == canonical_json(json.loads(text))
    lock = json.loads(text)["routes"]["POST /predict"]
    assert sorted(lock) == ["request", "response"]
    assert lock["request"]["$defs"]["Features"]["additionalProperties"] is False
    assert check_main(["--root", str(tmp_path)]) == 0


def test_gate_fails_when_a_request_field_turns_from_optional_to_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a locked demo v2 contract with an optional tenure_months
    write_contract(tmp_path)
    assert lock_main(["--root", str(tmp_path)]) == 0
    # WHEN tenure_months becomes required and the gate runs
    write_contract(tmp_path, tenure="int | None = Field(ge=0)")
    capsys.readouterr()
    exit_code = check_main(["--root", str(tmp_path)])
    # THEN it fails, naming the field and asking for a new major version
    err = capsys.readouterr().err
    assert exit_code == 1
    assert (
        'demo v2 POST /predict request: field "features.tenure_months" changed from optional to'
        " required"
        " — a breaking change inside major v2 (locked in contracts/demo/v2/0001.json);"
        " publish it as a new major version (v3) instead, or revert." in err
    )
    # AND the lock command refuses to record it
    assert lock_main(["--root", str(tmp_path)]) == 1
    assert lock_files(tmp_path) == ["0001.json"]


def test_adding_an_optional_request_field_is_compatible_and_lock_appends_0002(
    tmp_path: Path,
) -> None:
    # GIVEN a locked demo v2 contract
    write_contract(tmp_path)
    assert lock_main(["--root", str(tmp_path)]) == 0
    first_lock = (tmp_path / "contracts/demo/v2/0001.json").read_text()
    # WHEN an optional request field is added
    write_contract(tmp_path, extra_feature="channel: str | None = None")
    findings = check_all(tmp_path)
    # THEN nothing breaks; the gate only asks for the change to be locked
    assert not any(finding.breaking for finding in findings)
    assert [str(finding) for finding in findings] == [
        "demo v2: changed compatibly since contracts/demo/v2/0001.json;"
        " run `python -m mlserve contracts lock` to record it."
    ]
    # AND locking appends 0002.json, keeps 0001.json, and then the gate passes
    assert lock_main(["--root", str(tmp_path)]) == 0
    assert lock_files(tmp_path) == ["0001.json", "0002.json"]
    assert (tmp_path / "contracts/demo/v2/0001.json").read_text() == first_lock
    assert (
        "channel"
        in json.loads((tmp_path / "contracts/demo/v2/0002.json").read_text())["routes"][
            "POST /predict"
        ]["request"]["$defs"]["Features"]["properties"]
    )
    assert check_all(tmp_path) == []


def test_gate_checks_every_lock_of_the_major_not_only_the_newest(tmp_path: Path) -> None:
    # GIVEN lock 1 with an optional response label, and lock 2 where the label was dropped
    write_contract(tmp_path, response_field='label: str = "stay"')
    assert lock_main(["--root", str(tmp_path)]) == 0
    write_contract(tmp_path)
    assert lock_main(["--root", str(tmp_path)]) == 0
    # WHEN the label comes back with another type (compatible with lock 2 alone)
    write_contract(tmp_path, response_field="label: int = 0")
    findings = check_all(tmp_path)
    # THEN the gate reports the type change against lock 1
    assert [(f.subject, f.path, f.lock) for f in findings] == [
        ("demo v2 POST /predict response", "label", "contracts/demo/v2/0001.json")
    ]
    assert "new major version (v3)" in str(findings[0])


def test_gate_reports_a_contract_without_a_lock(tmp_path: Path) -> None:
    # GIVEN a contract that was never locked WHEN the gate runs
    write_contract(tmp_path)
    findings = check_all(tmp_path)
    # THEN it says to run the lock command
    assert [str(f) for f in findings] == [
        "demo v2: has no lock yet; run `python -m mlserve contracts lock`."
    ]


def test_a_retired_major_with_locks_but_no_contract_is_fine(tmp_path: Path) -> None:
    # GIVEN demo v2 locked, and a lock folder for demo v1 whose code was removed
    write_contract(tmp_path)
    assert lock_main(["--root", str(tmp_path)]) == 0
    retired = tmp_path / "contracts/demo/v1/0001.json"
    retired.parent.mkdir(parents=True)
    retired.write_text(canonical_json({"request": {}, "response": {}}))
    # WHEN the gate runs THEN it passes
    assert check_all(tmp_path) == []


def test_a_contract_that_cannot_be_loaded_fails_the_gate_and_the_lock(tmp_path: Path) -> None:
    # GIVEN a contract.py without a PredictResponse
    path = write_contract(tmp_path)
    path.write_text(path.read_text().replace("class PredictResponse", "class Answer"))
    # WHEN the gate and the lock command run
    findings = check_all(tmp_path)
    # THEN both report it, and nothing is locked
    assert len(findings) == 1
    assert str(findings[0]).startswith("demo v2: could not load services/demo/v2/contract.py:")
    assert "PredictResponse" in str(findings[0])
    assert lock_main(["--root", str(tmp_path)]) == 1
    assert lock_files(tmp_path) == []


def test_same_named_sibling_modules_of_two_majors_load_in_isolation(tmp_path: Path) -> None:
    # GIVEN demo v1 and v2 contracts that each import their own `labels.py`, which in turn
    # imports its own `names.py`
    for version, labels in (("v1", '"churn", "stay"'), ("v2", '"churn", "stay", "unsure"')):
        folder = tmp_path / "services" / "demo" / version
        folder.mkdir(parents=True)
        (folder / "names.py").write_text(f"from typing import Literal\nLabel = Literal[{labels}]\n")
        (folder / "labels.py").write_text("from names import Label as Label\n")
        (folder / "contract.py").write_text(
            "from __future__ import annotations\n"
            "from pydantic import BaseModel, ConfigDict\n"
            "from labels import Label\n\n\n"
            "class PredictRequest(BaseModel):\n"
            '    model_config = ConfigDict(extra="forbid")\n'
            "    text: str\n\n\n"
            "class PredictResponse(BaseModel):\n"
            '    model_config = ConfigDict(extra="allow")\n'
            "    label: Label\n"
        )
    path_before, modules_before = list(sys.path), set(sys.modules)
    # WHEN both are loaded
    contracts, _ = find_contracts(tmp_path)
    schemas = {c.version: contract_schemas(c.path)["routes"]["POST /predict"] for c in contracts}
    # THEN each got its own sibling, and sys.path and sys.modules are left as they were
    assert schemas["v1"]["response"]["properties"]["label"]["enum"] == ["churn", "stay"]
    assert schemas["v2"]["response"]["properties"]["label"]["enum"] == ["churn", "stay", "unsure"]
    assert sys.path == path_before
    assert set(sys.modules) == modules_before


def test_python_dash_m_entry_point_exits_1_on_a_breaking_change(tmp_path: Path) -> None:
    # GIVEN a locked contract whose request field then became required
    write_contract(tmp_path)
    assert lock_main(["--root", str(tmp_path)]) == 0
    write_contract(tmp_path, tenure="int | None = Field(ge=0)")
    # WHEN `python -m mlserve.contracts check` runs in a subprocess
    result = subprocess.run(
        [sys.executable, "-m", "mlserve.contracts", "check", "--root", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # THEN it exits 1 and names the field
    assert result.returncode == 1
    assert 'field "features.tenure_months"' in result.stderr


def test_the_repository_contracts_match_their_locks() -> None:
    # GIVEN this repository's services/*/v*/contract.py files
    if not find_contracts(REPO_ROOT)[0]:
        pytest.skip("no services/*/v*/contract.py in this checkout yet")
    # WHEN the gate runs THEN nothing breaks and every contract is locked
    assert [str(finding) for finding in check_all(REPO_ROOT)] == []


def test_the_repository_gate_fails_when_one_of_its_contracts_gains_a_required_field(
    tmp_path: Path,
) -> None:
    # GIVEN a copy of this repository's contracts and locks
    contracts, _ = find_contracts(REPO_ROOT)
    if not contracts:
        pytest.skip("no services/*/v*/contract.py in this checkout yet")
    shutil.copytree(REPO_ROOT / "contracts", tmp_path / "contracts")
    for contract in contracts:
        folder = contract.path.parent.relative_to(REPO_ROOT)
        shutil.copytree(
            REPO_ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    assert check_all(tmp_path) == []
    # WHEN the copy of the first contract's request gains a required field
    probed = tmp_path / contracts[0].path.relative_to(REPO_ROOT)
    probed.write_text(
        probed.read_text() + "\n\nclass PredictRequest(PredictRequest):\n    gate_probe: int\n"
    )
    findings = check_all(tmp_path)
    # THEN the gate fails on that field and asks for a new major version
    assert [(f.path, f.breaking) for f in findings] == [("gate_probe", True)]
    assert "publish it as a new major version" in str(findings[0])


def test_queue_envelope_is_gated_when_queue_versions_are_deployed(tmp_path: Path) -> None:
    # GIVEN a copy of the project, whose stacks give some version a queue, and its envelope lock
    root = scratch_project(tmp_path)
    assert envelope_problems(root) == []
    lock = root / ENVELOPE_LOCK
    locked = json.loads(lock.read_text())
    # WHEN the lock says messages could carry a member today's envelope refuses
    message = locked["routes"]["queue"]["request"]
    message["properties"]["priority"] = {"type": "integer"}
    lock.write_text(json.dumps(locked))
    # THEN the gate (and the lock command) refuse it: every batch caller sends this envelope
    findings = [f for f in check_all(root) if f.subject.startswith("the queue envelope")]
    assert findings and all(f.breaking for f in findings), [str(f) for f in findings]
    assert "every batch caller" in str(findings[0])
    assert lock_all(root)[0] == []
    # AND without a lock the gate asks for one; `lock` writes the current envelope
    lock.unlink()
    assert [f.breaking for f in envelope_problems(root)] == [False]
    written, problems = lock_all(root)
    assert problems == [] and lock in written
    assert envelope_problems(root) == []
