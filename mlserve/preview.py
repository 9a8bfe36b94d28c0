"""Offline preview: the program under the offline engine, then the policy pack over its protocol.

The offline counterpart of `pulumi preview --stack S --policy-pack policies
--policy-pack-config ledger.json`; it exits non-zero on a config error or a mandatory violation.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pulumi.output import Unknown

from components.settings import ConfigError
from mlserve.analyzer import Violation, analyze_run
from mlserve.ledger import REMOVAL_POLICY
from mlserve.offline import Deployed, ProgramRun, deployed_from_ledger, run_program
from mlserve.stack_files import StackFileError, file_settings, read_stack_file, stack_files

FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
ROUTE = "aws:apigatewayv2/route:Route"


def plan_lines(run: ProgramRun) -> list[str]:
    """Per service and version: function, alias and what it serves, lifecycle, dates, routes."""
    ledger: dict[str, dict[str, Any]] = run.outputs.get("versions") or {}
    aliases: dict[str, Any] = {}
    for registration in run.of_type(ALIAS):
        (function_urn,) = registration.property_dependencies.get("functionName", ("",))
        aliases[function_urn] = registration
    routes: dict[str, list[str]] = defaultdict(list)
    for route in run.of_type(ROUTE):
        key = route.inputs["routeKey"]
        routes["/".join(key.split(" ")[1].split("/")[1:3])].append(key)
    deployed = {
        (f.inputs["tags"]["mlserve:service"], f.inputs["tags"]["mlserve:api-version"]): f
        for f in run.of_type(FUNCTION)
    }
    lines: list[str] = []
    for service, versions in ledger.items():
        lines.append(f"  {service}")
        for key, entry in versions.items():
            function = deployed.get((service, key))
            if function is None:
                lines.append(f"    {key:<4} {entry['status']:<10} no resources (tombstone)")
                continue
            alias: Any = aliases.get(function.urn)
            served = alias.inputs.get("functionVersion") if alias else None
            target = (
                "newest published version (known after deploy)"
                if served is None or isinstance(served, Unknown)
                else f"version {served}" + (" (pinned)" if entry.get("pinned") else "")
            )
            weights = (alias.inputs.get("routingConfig") or {}) if alias else {}
            if weights:
                target += f", canary {weights}"
            protected = " protected" if function.protect else ""
            lines.append(
                f"    {key:<4} {entry['status']:<10} {function.inputs['name']}:"
                f"{alias.inputs['name'] if alias else '?'} -> {target}{protected}"
            )
            if "sunsetOn" in entry:
                lines.append(
                    f"         deprecated on {entry.get('deprecatedOn')}, "
                    f"sunset {entry['sunsetOn']}, successor {entry.get('successor')}"
                )
            lines.append(f"         routes: {', '.join(sorted(routes[f'{service}/{key}']))}")
    counts = Counter(r.type for r in run.registrations)
    lines.append(f"  {len(run.registrations)} resources: " + ", ".join(
        f"{count} {kind.rsplit(':', 1)[-1]}" for kind, count in sorted(counts.items())
    ))  # fmt: skip
    return lines


UNDECIDED = "can't run policy"  # how pulumi-policy words a rule that met unknown values


def verdict_lines(violations: list[Violation]) -> list[str]:
    """Policy verdicts grouped by enforcement level, mandatory first; the policies that could not
    decide because a value is known only after the update are listed on their own."""
    undecided = [v for v in violations if v.message.startswith(UNDECIDED)]
    lines: list[str] = []
    for level in ("mandatory", "remediate", "advisory"):
        found = [v for v in violations if v.enforcement_level == level and v not in undecided]
        lines.append(f"  {level}: {len(found) or 'none'}")
        for violation in found:
            where = violation.urn.rsplit("::", 1)[-1] if violation.urn else "stack"
            lines.append(f"    [{violation.policy_name}] {where}: {violation.message}")
    lines.append(f"  undecided until the update: {len(undecided) or 'none'}")
    for violation in undecided:
        where = violation.urn.rsplit("::", 1)[-1] if violation.urn else "stack"
        reason = violation.message.split(" during preview: ", 1)[-1]
        lines.append(f"    [{violation.policy_name}] {where}: {reason}")
    return lines


def preview(
    stack: str, config_file: Path, policy_config: dict[str, Any] | None, new_stack: bool = False
) -> int:
    """Preview one stack; 0 when it would deploy, 1 on a config error or mandatory violation.

    An existing stack is previewed as the engine would: what it already has is known, while a
    function that publishes a new version (its code or configuration changed against the
    ledger's revision) has an unknown version, and a new version's resources have no computed
    values; `new_stack` previews a first deployment, where every computed value is unknown.
    Policies that need an unknown value report that they could not decide.
    """
    print(f"Offline preview of stack {stack} ({config_file.name}, ", end="")
    try:
        stack_file = read_stack_file(config_file)
        settings = file_settings(stack, config_file)
    except (ConfigError, StackFileError) as error:
        print("config error)")
        print(error)
        print("Result: FAILED (config error, nothing registered)")
        return 1
    ledger = ((policy_config or {}).get(REMOVAL_POLICY) or {}).get("ledger")
    deployed: Deployed | None = None
    if new_stack:
        print("first deployment, computed values unknown)")
    elif isinstance(ledger, dict):
        deployed = deployed_from_ledger(ledger, settings)
        print(f"existing stack per its ledger, {len(deployed.unchanged)} function(s) unchanged)")
    else:
        deployed = Deployed(versions=frozenset(v.logical_name for v in settings.versions()),
                            published={})  # fmt: skip
        print("existing stack without a ledger, published versions unknown)")
    run = run_program(
        stack_file.config, stack=stack, preview=True, deployed=deployed,
        secret_keys=stack_file.secret_keys,
    )  # fmt: skip
    if run.error is not None:
        print(run.error)
        print("Result: FAILED (the program stopped, nothing more registered)")
        return 1
    for warning in run.warnings:
        print(f"  warning: {warning}")
    print("\n".join(plan_lines(run)))
    violations = analyze_run(run, policy_config=policy_config)
    print("Policy verdicts (pack policies/):")
    print("\n".join(verdict_lines(violations)))
    mandatory = [v for v in violations if v.mandatory]
    print(f"Result: {'FAILED' if mandatory else 'OK'} ({len(mandatory)} mandatory violation(s))")
    return 1 if mandatory else 0


def main(argv: Sequence[str]) -> int:
    """Run the offline preview for one stack file or all of them."""
    parser = argparse.ArgumentParser(prog="mlserve preview", description=__doc__)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="stack name, e.g. prod (reads Pulumi.<stack>.yaml)")
    target.add_argument("--all", action="store_true", help="every Pulumi.<stack>.yaml")
    parser.add_argument("--config-file", type=Path, help="another stack file for --stack")
    parser.add_argument("--ledger", type=Path, help="--policy-pack-config file (mlserve ledger)")
    parser.add_argument(
        "--new-stack", action="store_true", help="leave computed values unknown (first deploy)"
    )
    args = parser.parse_args(argv)
    if args.all and (args.ledger or args.config_file):
        parser.error("--ledger and --config-file belong to one stack: use --stack")
    policy_config = json.loads(args.ledger.read_text()) if args.ledger else None
    files = stack_files()
    if args.all:
        targets = list(files.items())
    else:
        config_file = args.config_file or files.get(args.stack)
        if config_file is None or not config_file.is_file():
            print(f"no stack file for {args.stack!r}; have {', '.join(files)}", file=sys.stderr)
            return 2
        targets = [(args.stack, config_file)]
    results = [preview(stack, path, policy_config, args.new_stack) for stack, path in targets]
    return max(results)
