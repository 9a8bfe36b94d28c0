"""The version workflow commands in a scratch copy of the repository, as a platform team runs them:
the tree they leave passes validate, the contract gate and every freshness check, the stack files
keep their comments and order, a second run changes nothing, and bad input writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from mlserve.stack_files import stack_files, stack_settings
from tests.support.scratch import mlserve, tree

TODAY = date(2026, 11, 27)


def assert_sound(repo: Path, *stacks: str) -> None:
    """The checks CI runs on a tree: validate, the contract gate, every freshness check."""
    for args in (
        ["validate", "--today", TODAY.isoformat(), *[a for s in stacks for a in ("--stack", s)]],
        ["contracts", "check"],
        ["generate", "--check"],
    ):
        result = mlserve(repo, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)


def kept_lines(before: str, after: str) -> bool:
    """Whether every line of `before` is still in `after`, in the same order."""
    remaining = iter(after.splitlines())
    return all(any(line == other for other in remaining) for line in before.splitlines())


def newest(repo: Path, service: str) -> str:
    majors = [int(p.name[1:]) for p in (repo / "services" / service).iterdir() if p.is_dir()]
    return f"v{max(majors)}"


def test_given_new_version_when_scaffolded_then_tree_is_sound_and_client_has_it(
    repo: Path,
) -> None:
    # GIVEN the newest major of a service of the first stack
    stack = next(iter(stack_files()))
    service = stack_settings(stack, today=TODAY).deployed_versions()[0].service
    source = newest(repo, service)
    target = f"v{int(source[1:]) + 1}"
    before = (repo / f"Pulumi.{stack}.yaml").read_text()
    # WHEN a new major is scaffolded from it
    result = mlserve(repo, "new", "version", service, target, "--from", source, "--stack", stack,
                     "--today", TODAY.isoformat())  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # THEN the stack file only gained the entry, comments and order kept
    after = (repo / f"Pulumi.{stack}.yaml").read_text()
    assert kept_lines(before, after) and f"code: services/{service}/{target}" in after
    entry = YAML(typ="safe").load(after)["config"]["mlserve:services"][service]["versions"]
    assert entry[target] == {"code": f"services/{service}/{target}", "status": "active"}
    # AND the code says what it is, its contract is locked, the client has the major
    contract = (repo / "services" / service / target / "contract.py").read_text()
    assert f'"version": "{target}"' in contract
    assert (repo / "contracts" / service / target / "0001.json").is_file()
    assert (
        repo / "client" / "mlserve_client" / service.replace("-", "_") / f"{target}.py"
    ).is_file()
    probe = subprocess.run(
        [sys.executable, "-c", f"from mlserve_client import Client; "
         f"print(Client('http://x').service({service!r}).{target}.major)"],
        cwd=repo, env={**os.environ, "PYTHONPATH": str(repo / "client")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert probe.stdout.strip() == target[1:], probe.stderr
    assert_sound(repo, stack)
    # AND a second run refuses to overwrite, in one line, and writes nothing
    written = tree(repo)
    again = mlserve(repo, "new", "version", service, target, "--from", source, "--stack", stack)
    assert again.returncode == 2 and "exists already" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert tree(repo) == written


def test_given_new_service_when_scaffolded_in_every_stack_then_sound(repo: Path) -> None:
    stacks = list(stack_files())
    source = next(iter(stack_settings(stacks[0], today=TODAY).deployed_versions()))
    args = [a for s in stacks for a in ("--stack", s)]
    result = mlserve(repo, "new", "service", "fraud-score", "--from",
                     f"{source.service}/{source.key}", "--description", "Fraud score", *args,
                     "--today", TODAY.isoformat())  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for stack in stacks:
        services = YAML(typ="safe").load((repo / f"Pulumi.{stack}.yaml").read_text())["config"][
            "mlserve:services"
        ]
        assert services["fraud-score"]["versions"] == {
            "v1": {"code": "services/fraud-score/v1", "status": "active"}
        }
    assert (repo / "client" / "mlserve_client" / "fraud_score" / "v1.py").is_file()
    assert_sound(repo, *stacks)


def test_given_deprecate_when_run_then_earliest_sunset_and_second_run_is_a_no_op(
    repo: Path,
) -> None:
    # GIVEN an active version with an active successor in one stack
    stack, version, successor = next(
        (stack, v, s)
        for stack in stack_files()
        for v in stack_settings(stack, today=TODAY).deployed_versions()
        for s in stack_settings(stack, today=TODAY).deployed_versions()
        if v.status == "active" and s.status == "active" and s.service == v.service
        and s.major > v.major
    )  # fmt: skip
    settings = stack_settings(stack, today=TODAY)
    earliest = TODAY + timedelta(days=max(settings.deprecation_window_days, 90))
    planned = version.sunset_on
    expected = max(earliest, planned) if planned else earliest
    args = ["deprecate", version.service, version.key, "--successor", successor.key,
            "--stack", stack, "--today", TODAY.isoformat()]  # fmt: skip
    # WHEN a sunset before the earliest is asked for THEN refused, one line, nothing written
    untouched = tree(repo)
    early = mlserve(repo, *args, "--sunset", (earliest - timedelta(days=1)).isoformat())
    assert early.returncode == 2 and len(early.stderr.strip().splitlines()) == 1
    assert f"earliest allowed sunset {earliest}" in early.stderr
    assert tree(repo) == untouched
    # WHEN deprecated with the default THEN today's deprecation and the earliest (or planned) sunset
    result = mlserve(repo, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    entry = YAML(typ="safe").load((repo / f"Pulumi.{stack}.yaml").read_text())["config"][
        "mlserve:services"][version.service]["versions"][version.key]  # fmt: skip
    assert entry["status"] == "deprecated" and entry["successor"] == successor.key
    assert (entry["deprecatedOn"], entry["sunsetOn"]) == (TODAY.isoformat(), expected.isoformat())
    assert_sound(repo, stack)
    # AND again: nothing to change
    written = tree(repo)
    again = mlserve(repo, *args)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert tree(repo) == written


def test_given_retire_when_before_and_after_sunset_then_refused_then_done(repo: Path) -> None:
    # GIVEN a deprecated version of a stack
    stack, version = next(
        (stack, v) for stack in stack_files()
        for v in stack_settings(stack, today=TODAY).deployed_versions() if v.status == "deprecated"
    )  # fmt: skip
    assert version.sunset_on is not None
    args = ["retire", version.service, version.key, "--stack", stack, "--today"]
    # WHEN retired on its sunset day THEN refused, naming the first allowed day
    untouched = tree(repo)
    early = mlserve(repo, *args, version.sunset_on.isoformat())
    allowed = version.sunset_on + timedelta(days=1)
    assert early.returncode == 2 and f"it may be retired from {allowed}" in early.stderr
    assert tree(repo) == untouched
    # WHEN retired the day after THEN done, and the tree is sound on that day
    result = mlserve(repo, *args, allowed.isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    entry = YAML(typ="safe").load((repo / f"Pulumi.{stack}.yaml").read_text())["config"][
        "mlserve:services"][version.service]["versions"][version.key]  # fmt: skip
    assert entry["status"] == "retired"
    assert mlserve(repo, "generate", "--check", today=allowed).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "version", "nope", "v9", "--from", "v1", "--stack", "dev"], "does not exist"),
        (["new", "version", "churn", "v9", "--from", "v8", "--stack", "dev"], "does not exist"),
        (["new", "version", "churn", "v2", "--from", "v1", "--stack", "dev"], "exists already"),
        (["new", "service", "churn", "--from", "churn/v1", "--stack", "dev"], "exists already"),
        (["new", "service", "Bad_Name", "--from", "churn/v1", "--stack", "dev"], "service key"),
        (["deprecate", "churn", "v9", "--successor", "v10", "--stack", "dev"], "has no churn v9"),
        (["retire", "churn", "v2", "--stack", "dev"], "deprecate it first"),
        (["retire", "churn", "v1", "--stack", "nope"], "no stack 'nope'"),
    ],
)
def test_given_bad_input_when_run_then_one_line_exit_2_and_nothing_written(
    repo: Path, args: list[str], message: str
) -> None:
    untouched = tree(repo)
    result = mlserve(repo, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert tree(repo) == untouched


def test_given_invalid_yaml_stack_when_deprecating_then_file_line_col_and_nothing_written(
    repo: Path,
) -> None:
    (repo / "Pulumi.dev.yaml").write_text("config:\n  mlserve:services: [unclosed\n")
    untouched = tree(repo)
    result = mlserve(repo, "deprecate", "churn", "v1", "--successor", "v2", "--stack", "dev")
    assert result.returncode == 2 and "Pulumi.dev.yaml:" in result.stderr
    assert tree(repo) == untouched


def test_given_dry_run_when_deprecating_then_diff_printed_and_nothing_written(repo: Path) -> None:
    untouched = tree(repo)
    result = mlserve(repo, "deprecate", "sentiment", "v1", "--successor", "v2", "--stack", "prod",
                     "--dry-run", "--today", TODAY.isoformat())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "+++ b/Pulumi.prod.yaml" in result.stdout and "+" in result.stdout
    assert "status: deprecated" in result.stdout
    assert tree(repo) == untouched
