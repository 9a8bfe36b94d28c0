"""The checked-in client package is what the generator makes from the stacks and contracts, and
it follows the reference stack: a major retired there leaves the package, raising its major."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from mlserve import client_package
from tests.support.scratch import mlserve


def test_given_checked_in_client_when_regenerated_then_identical() -> None:
    for target, text in client_package.files().items():
        if text is None:
            assert not target.exists(), f"{target} is a stale generated module"
        else:
            assert target.read_text() == text, f"{target} is out of date"


def test_given_major_retired_in_reference_stack_when_regenerated_then_dropped_and_major_bumped(
    repo: Path,
) -> None:
    # GIVEN a deprecated major of the reference stack, after its sunset
    reference, supported = client_package.majors()
    version = next(m.version for m in supported if m.status == "deprecated")
    assert version.sunset_on is not None
    after = version.sunset_on + timedelta(days=1)
    before = (repo / "client" / "mlserve_client" / "_about.py").read_text()
    found = re.search(r'__version__ = "(\d+)\.', before)
    assert found is not None
    major = int(found.group(1))
    module = repo / "client" / "mlserve_client" / version.service.replace("-", "_")
    # WHEN it is retired there
    result = mlserve(repo, "retire", version.service, version.key, "--stack", reference,
                     "--today", after.isoformat())  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # THEN its module is gone, the package's major rose, and the tree is current
    assert not (module / f"{version.key}.py").exists()
    assert (
        f'__version__ = "{major + 1}.0.0"'
        in (repo / "client" / "mlserve_client" / "_about.py").read_text()
    )
    assert mlserve(repo, "generate", "--check", today=after).returncode == 0
