"""`python -m mlserve validate`: every stack config, and every version it deploys loaded the way
Lambda will load it.

For each deployed version: its code declares the version it is deployed as, the handler imports
and answers its health route in a fresh process with exactly the function's environment (so a
missing weights file, a handler that does not resolve or an app serving other routes than its
contract declares fails here rather than at cold start), and its contract is locked.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from components.settings import ConfigError, Settings, VersionSettings, key_path
from mlserve.contracts.gate import Contract, contract_problems
from mlserve.local_api.workers import invocation_context, version_worker
from mlserve.stack_files import PROJECT_ROOT, StackFileError, stack_files, stack_settings
from mlserve_runtime.contract_check import version_problems
from mlserve_runtime.gateway_events import http_api_event


def code_problems(settings: Settings, version: VersionSettings) -> tuple[list[str], list[str]]:
    """(problems, warnings) of one deployed version's code, checked as Lambda would run it."""
    if version.source is None:
        where = key_path("services", version.service, "versions", version.key, "image")
        return [], [f"{where}: an image version without localCode: its code is not loaded here"]
    field = "code" if version.image is None else "localCode"
    where = key_path("services", version.service, "versions", version.key, field)
    contract = Contract(version.service, version.key, version.source)
    if not contract.path.is_file():  # the gate's one clear message, not an import error too
        return [
            f"{where}: {finding}" for finding in contract_problems(settings.project_root, contract)
        ], []
    surface = version.surface
    if surface is None:
        return [], [
            f"{where}: the code declares no surface (SURFACE in contract.py), so its routes "
            f"({', '.join(r.key for r in version.routes)}) cannot be checked against it"
        ]
    if (surface["service"], surface["version"]) != (version.service, version.key):
        return [
            f"{where}: the code declares {surface['service']} {surface['version']} but is "
            f"deployed as {version.service} {version.key}; a copied version must say what it is "
            "(SURFACE service and version in contract.py)"
        ], []
    problems = _loads_and_answers(settings, version, where)
    problems += [
        f"{where}: contract {finding}"
        for finding in contract_problems(settings.project_root, contract)
    ]
    return problems, []


def _loads_and_answers(settings: Settings, version: VersionSettings, where: str) -> list[str]:
    """Load the version in a Lambda-like worker, then ask its health route and, for every route
    with an example, check the answer against the route's locked response schema (the same
    check the rollout's pre-traffic hook runs on AWS)."""
    region = settings.region or "us-east-1"
    worker = version_worker(settings, version, region=region, log=subprocess.DEVNULL)
    path = f"{version.base_path}/health"
    context = invocation_context(version, worker, region)
    problems: list[str] = []
    try:
        outcome = worker.invoke(http_api_event("GET", path), context, 0.0)
        if outcome.error is not None:
            return [
                f"{where}: the handler {version.handler} fails as Lambda would load it: "
                f"{outcome.error.get('errorType')}: {outcome.error.get('errorMessage')}"
            ]
        if outcome.timed_out or outcome.exit_code is not None:
            return [f"{where}: the handler {version.handler} did not answer GET {path}"]
        result = outcome.result if isinstance(outcome.result, dict) else {}
        if result.get("statusCode") != 200:
            return [f"{where}: GET {path} answered {result.get('statusCode')}, not 200"]

        def answer(event: dict[str, Any]) -> dict[str, Any]:
            called = worker.invoke(event, context, 0.0)
            return called.result if isinstance(called.result, dict) else {"statusCode": None}

        checks = version.contract_checks
        checks["routes"] = {r: c for r, c in checks["routes"].items() if c["example"] is not None}
        problems = [f"{where}: {problem}" for problem in version_problems(checks, answer)]
    finally:
        worker.stop()
    return problems


def validate_stack(stack: str, project_root: Path, today: date | None, load: bool) -> bool:
    """Print one stack's versions, warnings and problems; whether it is valid."""
    try:
        settings = stack_settings(stack, today=today, project_root=project_root)
    except (ConfigError, StackFileError) as error:
        print(f"stack {stack}: {error}", file=sys.stderr)
        return False
    print(f"stack {stack} (environment {settings.environment}): config valid")
    for version in settings.versions():
        served = "-" if not version.deployed else (
            f"pinned {version.pin}" if version.pin is not None else "newest published"
        )  # fmt: skip
        print(
            f"  {version.service:<16} {version.key:<4} {version.status:<10} "
            f"{version.function_name}:{version.alias_name} -> {served}"
        )
    problems: list[str] = []
    warnings = list(settings.warnings)
    for version in settings.deployed_versions() if load else []:
        found, notes = code_problems(settings, version)
        problems += found
        warnings += notes
    for warning in warnings:
        print(f"  warning: {warning}")
    for problem in problems:
        print(f"stack {stack}: {problem}", file=sys.stderr)
    return not problems


def main(argv: Sequence[str]) -> int:
    """Validate stack configs and the code of every version they deploy."""
    parser = argparse.ArgumentParser(
        prog="mlserve validate", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--stack", action="append", help="stack name (repeatable; default: all)")
    parser.add_argument("--all", action="store_true", help="every Pulumi.<stack>.yaml (default)")
    parser.add_argument("--today", type=date.fromisoformat, help="judge dates as of YYYY-MM-DD")
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT, help="the project folder")
    parser.add_argument(
        "--config-only", action="store_true", help="skip loading each version's code"
    )
    args = parser.parse_args(list(argv))
    root = args.root.resolve()
    known = stack_files(root)
    unknown = [stack for stack in args.stack or [] if stack not in known]
    if unknown:
        parser.error(f"unknown stack {', '.join(unknown)}; known stacks: {', '.join(known)}")
    stacks = args.stack or list(known)
    results = [validate_stack(stack, root, args.today, not args.config_only) for stack in stacks]
    return 0 if all(results) else 1
