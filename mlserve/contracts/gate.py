"""The compatibility gate: every version a stack deploys has a contract, that contract is the
version it claims to be, it is locked, and nothing in it breaks a lock of its major.

Locks live in `contracts/<service>/<vN>/0001.json`, `0002.json`, ...: each a new compatible state
of the major's contract (per route, the request's and response's JSON Schemas). `lock` appends
one when a contract changed compatibly and refuses a breaking change; `check` (CI) fails on a
breaking change, a missing or stale lock, a deployed version without a contract, or code that
declares another version than the one it is deployed as.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from components.settings import ConfigError
from mlserve.contracts.loader import canonical_json, load_contract, stored
from mlserve.contracts.schema_diff import PARTS, Finding, compare_schemas
from mlserve.stack_files import PROJECT_ROOT, StackFileError, stack_files, stack_settings
from mlserve_runtime.artifacts import contract_schemas
from mlserve_runtime.batch import message_model, result_model
from mlserve_runtime.conventions import SURFACE_MODULE, VERSION, lock_files, upgraded_lock

LOCK_COMMAND = "python -m mlserve contracts lock"


@dataclass(frozen=True)
class Contract:
    """A version whose contract the gate checks: where its code is, and which stacks deploy it."""

    service: str
    version: str
    folder: Path
    stacks: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        """The version's contract module."""
        return self.folder / SURFACE_MODULE

    def __str__(self) -> str:
        return f"{self.service} {self.version}"


def find_contracts(project_root: Path) -> tuple[list[Contract], list[str]]:
    """Every version a stack deploys (from each stack file) and every other `services/<service>/
    v<N>/contract.py`, with the stack files that could not be read."""
    found: dict[tuple[str, str, Path], set[str]] = {}
    problems = []
    for stack in stack_files(project_root):
        try:
            settings = stack_settings(stack, project_root=project_root)
        except (ConfigError, StackFileError) as error:
            problems.append(f"stack {stack}: {error}")
            continue
        for version in settings.deployed_versions():
            if version.source is None:
                problems.append(
                    f"stack {stack}: {version.service} {version.key} is an image version without "
                    "localCode, so its contract cannot be gated; give localCode (the folder whose "
                    "code the image holds)"
                )
                continue
            found.setdefault((version.service, version.key, version.source.resolve()), set()).add(
                stack
            )
    for path in (project_root / "services").glob("*/v*/contract.py"):
        if VERSION.fullmatch(path.parent.name):
            found.setdefault(
                (path.parent.parent.name, path.parent.name, path.parent.resolve()), set()
            )
    contracts = [
        Contract(service, version, folder, tuple(sorted(stacks)))
        for (service, version, folder), stacks in found.items()
    ]
    return sorted(contracts, key=lambda c: (c.service, int(c.version[1:]), str(c.folder))), problems


def breaking_changes(
    locks: Sequence[tuple[str, Mapping[str, Any]]], current: Mapping[str, Any]
) -> list[Finding]:
    """Breaking changes of `current` against every lock of its major (newest first), each once:
    a route that disappeared, or a request or response that breaks a lock's."""
    found: dict[tuple[str, ...], Finding] = {}
    routes = upgraded_lock(dict(current))["routes"]
    for lock_name, lock in reversed(locks):
        for route, old in upgraded_lock(dict(lock))["routes"].items():
            new = routes.get(route)
            if new is None:
                finding = Finding("", f"route {route} was removed", True, subject=route)
                found.setdefault(("removed", route), replace(finding, lock=lock_name))
                continue
            for part in PARTS:
                for finding in _route_part(old.get(part), new.get(part), part):
                    key = (route, part, finding.change)
                    found.setdefault(
                        key, replace(finding, subject=f"{route} {part}", lock=lock_name)
                    )
    return list(found.values())


def _route_part(old: Any, new: Any, part: str) -> list[Finding]:
    if old is None and new is None:
        return []
    if old is None or new is None:
        change = "now requires a body" if old is None else "no longer reads a body"
        breaking = old is None or part == "response"
        return [Finding("", change, breaking)] if breaking else []
    return [finding for finding in compare_schemas(old, new, part) if finding.breaking]  # type: ignore[arg-type]


def read_locks(project_root: Path, service: str, version: str) -> list[tuple[str, dict[str, Any]]]:
    """The lock history of one major, oldest first, as (project-relative path, lock)."""
    return [
        (path.relative_to(project_root).as_posix(), json.loads(path.read_text()))
        for path in lock_files(project_root, service, version)
    ]


def _review(
    project_root: Path, contract: Contract
) -> tuple[dict[str, Any] | None, list[tuple[str, dict[str, Any]]], list[Finding]]:
    """A contract's current lock form, its locks and what blocks it."""
    label = str(contract)
    where = _shown(contract.path, project_root)
    if not contract.path.is_file():
        stacks = ", ".join(contract.stacks) or "no stack"
        change = (
            f"is deployed by {stacks} but its code has no {where}; declare the version's "
            f"surface and models there, then run `{LOCK_COMMAND}`"
        )
        return None, [], [Finding("", change, True, subject=label)]
    try:
        module = load_contract(contract.path)
        current = contract_schemas(module)
    except Exception as error:  # any failure in someone's contract.py is a finding, not a crash
        change = f"could not load {where}: {type(error).__name__}: {error}"
        return None, [], [Finding("", change, True, subject=label)]
    declared = (module.SURFACE.get("service"), module.SURFACE.get("version"))
    if declared != (contract.service, contract.version):
        change = (
            f"{where} declares {declared[0]} {declared[1]}, but it is deployed as {label}; a "
            f"copied version must say what it is (SURFACE service and version)"
        )
        return None, [], [Finding("", change, True, subject=label)]
    locks = read_locks(project_root, contract.service, contract.version)
    next_major = _next_major(project_root, contract.service)
    problems = [
        replace(
            finding,
            subject=f"{label} {finding.subject}",
            advice=(
                f"a breaking change inside major {contract.version} (locked in {finding.lock});"
                f" publish it as a new major version ({next_major}) instead, or revert"
            ),
        )
        for finding in breaking_changes(locks, current)
    ]
    return current, locks, problems


def contract_problems(project_root: Path, contract: Contract) -> list[Finding]:
    """What fails the gate for one version: no contract, another version's, a breaking change, or
    a missing or stale lock."""
    current, locks, problems = _review(project_root, contract)
    if current is None or problems:
        return problems
    if not locks:
        return [Finding("", f"has no lock yet; run `{LOCK_COMMAND}`", False, subject=str(contract))]
    if stored(current) != upgraded_lock(locks[-1][1]):
        change = f"changed compatibly since {locks[-1][0]}; run `{LOCK_COMMAND}` to record it"
        return [Finding("", change, False, subject=str(contract))]
    return []


ENVELOPE_LOCK = "contracts/queue-envelope.json"
ENVELOPE = "the queue envelope"


class _Route(BaseModel):
    """Stands for a queue route's request and response inside the envelope."""


def envelope_lock() -> dict[str, Any]:
    """The queue envelope in lock form: the work message around a route's request and the
    result around its response (the runtime's models), as one route's request and response."""
    return {"routes": {"queue": {
        "request": message_model(_Route).model_json_schema(),
        "response": result_model(_Route).model_json_schema(),
    }}}  # fmt: skip


def envelope_problems(project_root: Path) -> list[Finding]:
    """What fails the gate for the queue envelope every queue version's callers rely on: a
    breaking change against its lock, or a missing or stale lock."""
    path = project_root / ENVELOPE_LOCK
    if not path.is_file():
        return [Finding("", f"has no lock {ENVELOPE_LOCK}; run `{LOCK_COMMAND}`", False,
                        subject=ENVELOPE)]  # fmt: skip
    locked = json.loads(path.read_text())
    breaking = breaking_changes([(ENVELOPE_LOCK, locked)], envelope_lock())
    if breaking:
        return [replace(finding, subject=f"{ENVELOPE} {finding.subject}", advice=(
            "every batch caller of every queue version sends and reads this envelope; keep it "
            "compatible (add optional members only)")) for finding in breaking]  # fmt: skip
    if locked != envelope_lock():
        change = f"changed compatibly since {ENVELOPE_LOCK}; run `{LOCK_COMMAND}` to record it"
        return [Finding("", change, False, subject=ENVELOPE)]
    return []


def _queues_deployed(project_root: Path) -> bool:
    for stack in stack_files(project_root):
        try:
            settings = stack_settings(stack, project_root=project_root)
        except (ConfigError, StackFileError):
            continue  # find_contracts reports the stack
        if any(version.queue is not None for version in settings.deployed_versions()):
            return True
    return False


def check_all(project_root: Path) -> list[Finding]:
    """Every problem that fails the gate."""
    contracts, unreadable = find_contracts(project_root)
    problems = [Finding("", text, True) for text in unreadable]
    for contract in contracts:
        problems += contract_problems(project_root, contract)
    if _queues_deployed(project_root):
        problems += envelope_problems(project_root)
    return problems


def lock_all(project_root: Path) -> tuple[list[Path], list[Finding]]:
    """Append a lock for each new or compatibly changed contract; if anything blocks, write
    nothing and return the problems."""
    contracts, unreadable = find_contracts(project_root)
    problems = [Finding("", text, True) for text in unreadable]
    planned: dict[Path, dict[str, Any]] = {}
    for contract in contracts:
        current, locks, found = _review(project_root, contract)
        problems += found
        if current is None or found or (locks and stored(current) == upgraded_lock(locks[-1][1])):
            continue
        number = int(Path(locks[-1][0]).stem) + 1 if locks else 1
        lock_dir = project_root / "contracts" / contract.service / contract.version
        target = lock_dir / f"{number:04d}.json"
        if planned.get(target, current) != current:
            problems.append(
                Finding("", "two code folders deployed as this version disagree", True,
                        subject=str(contract))
            )  # fmt: skip
        planned[target] = current
    if _queues_deployed(project_root):
        envelope = envelope_problems(project_root)
        problems += [finding for finding in envelope if finding.breaking]
        if envelope and not problems:
            planned[project_root / ENVELOPE_LOCK] = envelope_lock()
    if problems:
        return [], problems
    for path, schemas in planned.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(canonical_json(schemas))
    return list(planned), []


def _shown(path: Path, project_root: Path) -> str:
    try:
        return path.resolve().relative_to(project_root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _next_major(project_root: Path, service: str) -> str:
    majors = [
        int(path.name[1:])
        for base in (project_root / "services" / service, project_root / "contracts" / service)
        if base.is_dir()
        for path in base.iterdir()
        if path.is_dir() and VERSION.fullmatch(path.name)
    ]
    return f"v{max(majors, default=0) + 1}"


def main(argv: Sequence[str]) -> int:
    """`contracts lock|check [--root PATH]`."""
    parser = argparse.ArgumentParser(
        prog="mlserve contracts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("lock", "append locks for new or compatibly changed contracts; refuse breaking ones"),
        ("check", "exit 1 with one line per problem (CI)"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--root", type=Path, default=PROJECT_ROOT, help="the project folder")
    args = parser.parse_args(list(argv))
    root: Path = args.root.resolve()
    if args.command == "lock":
        written, problems = lock_all(root)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"lock refused ({len(problems)} problem(s)); nothing written.", file=sys.stderr)
            return 1
        for path in written:
            print(f"locked {path.relative_to(root).as_posix()}")
        if not written:
            print("every contract matches its newest lock; nothing to do.")
        return 0
    problems = check_all(root)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"contract gate failed: {len(problems)} problem(s).", file=sys.stderr)
        return 1
    count = len(find_contracts(root)[0])
    print(f"contract gate passed: {count} contract(s) match their locks.")
    return 0
