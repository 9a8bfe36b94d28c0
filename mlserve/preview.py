"""Offline preview: the program under the offline engine, then the policy pack over its protocol.

The offline counterpart of `pulumi preview --stack S --policy-pack policies
--policy-pack-config ledger.json`. A stack is previewed as an update of the deployment its ledger
describes (`--ledger`, built by `mlserve ledger`), or, declared explicitly, as a first deployment
(`--new-stack`); without either the pack fails closed, as it would in CI. `--today` moves the
clock of the program and the pack alike; `--write-outputs` writes the outputs the deployment
would have, to rehearse the next step against them. Exits non-zero on a config error or a
mandatory violation.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pulumi.output import Unknown

from components.settings import ConfigError
from components.telemetry import callers_rule_name, sunset_alarm_name
from mlserve.analyzer import PolicyConfigError, PolicyPackError, Violation, analyze_run
from mlserve.ledger import (
    LedgerError,
    looks_like_stack_output,
    policy_config,
    promotion_ledger,
    with_promotion,
)
from mlserve.offline import Deployed, ProgramRun, deployed_from_ledger, run_program
from mlserve.stack_files import StackFileError, file_settings, read_stack_file, stack_files
from mlserve_runtime.conventions import (
    LEDGER_POLICIES,
    QUEUE_SUFFIXES,
    TAG_SERVICE,
    public_route_key,
)

FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
ROUTE = "aws:apigatewayv2/route:Route"
GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
QUEUE = "aws:sqs/queue:Queue"
CONFIG = "aws:codedeploy/deploymentConfig:DeploymentConfig"
INSIGHT_RULE = "aws:cloudwatch/contributorInsightRule:ContributorInsightRule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
UNDECIDED = "can't run policy"  # how pulumi-policy words a rule that met unknown values


def _served(alias: Any) -> str | None:
    served = alias.inputs.get("functionVersion") if alias is not None else None
    return None if served is None or isinstance(served, Unknown) else str(served)


def _api_service(run: ProgramRun, route: Any) -> str | None:
    """The service whose own API (perService) a route is on, None on the stack's single API."""
    (api,) = route.property_dependencies["apiId"]
    return (run.by_urn(api).inputs.get("tags") or {}).get(TAG_SERVICE)


def plan_lines(run: ProgramRun, ledger: Mapping[str, Any] | None = None) -> list[str]:
    """Per service and version: function, alias and what it serves, lifecycle, dates, routes,
    and, given the ledger of the last deployment, what changes against it."""
    outputs: dict[str, dict[str, Any]] = run.outputs.get("versions") or {}
    before: dict[str, dict[str, Any]] = dict((ledger or {}).get("versions") or {})
    aliases = {r.property_dependencies.get("functionName", ("",))[0]: r for r in run.of_type(ALIAS)}
    routes: dict[str, list[str]] = defaultdict(list)
    for route in run.of_type(ROUTE):
        key = public_route_key(route.inputs["routeKey"], _api_service(run, route))
        routes["/".join(key.split(" ")[1].split("/")[1:3])].append(key)
    deployed = {
        (f.inputs["tags"]["mlserve:service"], f.inputs["tags"]["mlserve:api-version"]): f
        for f in run.of_type(FUNCTION)
        if "mlserve:service" in (f.inputs.get("tags") or {})  # not the rollout's hook
    }
    groups = {g.inputs["deploymentGroupName"]: g for g in run.of_type(GROUP)}
    lines: list[str] = []
    for service in dict.fromkeys([*outputs, *before]):
        lines.append(f"  {service}")
        for key in dict.fromkeys([*(outputs.get(service) or {}), *(before.get(service) or {})]):
            entry = (outputs.get(service) or {}).get(key)
            old = (before.get(service) or {}).get(key) if ledger is not None else None
            function = deployed.get((service, key))
            alias = aliases.get(function.urn) if function is not None else None
            lines += _version_lines(key, entry, old, function, alias, routes[f"{service}/{key}"])
            group = groups.get(function.inputs["name"]) if function is not None else None
            if group is not None and alias is not None:
                lines.append(_rollout_line(run, group, alias, first=ledger is None))
            if function is not None and alias is not None:
                lines += _callers_lines(run, f"{function.inputs['name']}:{alias.inputs['name']}")
                lines += _queue_lines(run, alias)
            if ledger is not None:
                changes = _changes(entry, old, function, alias, routes[f"{service}/{key}"])
                lines.append(f"         changes: {', '.join(changes) or 'none'}")
    dashboards = [d.inputs["dashboardName"] for d in run.of_type(DASHBOARD)]
    if dashboards:
        lines.append(f"  dashboards: {', '.join(dashboards)}")
    counts = Counter(r.type for r in run.registrations)
    lines.append(f"  {len(run.registrations)} resources: " + ", ".join(
        f"{count} {kind.rsplit(':', 1)[-1]}" for kind, count in sorted(counts.items())
    ))  # fmt: skip
    return lines


def _callers_lines(run: ProgramRun, resource: str) -> list[str]:
    """Where a deprecated version's callers show (its Contributor Insights rule) and the alarm on
    its answers after the sunset."""
    rules = [r.inputs["ruleName"] for r in run.of_type(INSIGHT_RULE)
             if r.inputs.get("ruleName") == callers_rule_name(resource)]  # fmt: skip
    alarms = [a.inputs["name"] for a in run.of_type(ALARM)
              if a.inputs.get("name") == sunset_alarm_name(resource)]  # fmt: skip
    if not rules and not alarms:
        return []
    rule, alarm = ", ".join(rules) or "none", ", ".join(alarms) or "none"
    return [f"         callers: rule {rule}; alarm {alarm} on 410 answers after the sunset"]


def _queue_lines(run: ProgramRun, alias: Any) -> list[str]:
    """A queue version's mapping as registered: the queue it reads into the alias, its batches,
    and where results and dead letters go."""
    mappings = [m for m in run.of_type(MAPPING) if alias.urn in m.dependencies]
    if not mappings:
        return []
    queues = {q.urn: q for q in run.of_type(QUEUE)}
    lines = []
    for mapping in mappings:
        work = next((queues[u] for u in mapping.property_dependencies.get("eventSourceArn", ())
                     if u in queues), None)  # fmt: skip
        if work is None:
            continue
        name = work.inputs["name"]
        policy = work.inputs.get("redrivePolicy")  # known once the dead-letter queue exists
        receives = _whole(
            json.loads(policy)["maxReceiveCount"] if isinstance(policy, str) else None
        )
        at_once = _whole((mapping.inputs.get("scalingConfig") or {}).get("maximumConcurrency"))
        lines.append(
            f"         queue: {name} -> {alias.inputs['name']} in batches of "
            f"{_whole(mapping.inputs.get('batchSize'))} (at most {at_once} at once, visibility "
            f"{_whole(work.inputs.get('visibilityTimeoutSeconds'))}s); results "
            f"{name}{QUEUE_SUFFIXES['results']}; dead letters {name}{QUEUE_SUFFIXES['deadLetter']} "
            f"after {receives} receives"
        )
    return lines


def _whole(value: Any) -> str:
    """A number the engine sent (as a double) as written, or `?` while unknown."""
    return str(int(value)) if isinstance(value, int | float) else "?"


def _rollout_line(run: ProgramRun, group: Any, alias: Any, *, first: bool) -> str:
    """The version's rollout: its CodeDeploy config, alarms and whether a deployment starts."""
    config = group.inputs.get("deploymentConfigName")
    if isinstance(config, Unknown) or not isinstance(config, str):
        custom = [c for c in run.of_type(CONFIG) if c.urn in group.dependencies]
        shape = custom[0].inputs["trafficRoutingConfig"] if custom else {}
        config = f"custom {json.dumps(shape, sort_keys=True)}"
    alarms = group.inputs.get("alarmConfiguration", {}).get("alarms", [])
    if first:
        starts = "no deployment: the alias starts on the first published version"
    elif _served(alias) is None:
        starts = "a deployment starts when the new version is published (rollout start)"
    else:
        starts = "no deployment: nothing publishes"
    return f"         rollout: {config}; {len(alarms)} alarm(s) roll back; {starts}"


def _version_lines(
    key: str, entry: Any, old: Any, function: Any, alias: Any, routes: list[str]
) -> list[str]:
    if entry is None:
        return [f"    {key:<4} (entry deleted from the config)"]
    if function is None:
        return [f"    {key:<4} {entry['status']:<10} no resources (tombstone)"]
    served = _served(alias)
    target = (
        "newest published version (known after deploy)"
        if served is None
        else f"version {served}" + (" (pinned)" if entry.get("pinned") else "")
    )
    weights = (alias.inputs.get("routingConfig") or {}) if alias else {}
    if weights:
        target += f", canary {weights}"
    protected = " protected" if function.protect else ""
    lines = [
        f"    {key:<4} {entry['status']:<10} {function.inputs['name']}:"
        f"{alias.inputs['name'] if alias else '?'} -> {target}{protected}"
    ]
    if "sunsetOn" in entry:
        lines.append(
            f"         deprecated on {entry.get('deprecatedOn')}, sunset {entry['sunsetOn']}, "
            f"successor {entry.get('successor')}"
        )
    lines.append(f"         routes: {', '.join(sorted(routes))}")
    return lines


def _changes(entry: Any, old: Any, function: Any, alias: Any, routes: list[str]) -> list[str]:
    """What one version's deployment changes against the ledger, in a few words each."""
    if old is None:
        return ["new version"] if entry is not None else []
    if entry is None:
        return ["entry deleted"]
    changes = []
    if old.get("status") != entry.get("status"):
        changes.append(f"{old.get('status')} -> {entry.get('status')}")
    if function is None and old.get("status") != "retired":
        changes.append("function deleted")
    elif function is not None:
        for kind, resource in (("function", function), ("alias", alias)):
            name = resource.inputs.get("name") if resource is not None else None
            if old.get(kind) and name and old[kind] != name:
                changes.append(f"{kind} {old[kind]} replaced by {name} (the old one deleted)")
        was, now = old.get("lambdaVersion"), _served(alias)
        if now is None:
            changes.append(f"alias {was} -> newest published (known after deploy)")
        elif str(was) != now:
            changes.append(f"alias {was} -> {now}")
    old_routes = set((old.get("surface") or {}).get("routes") or [])
    if function is not None and old_routes:
        changes += [f"route removed: {r}" for r in sorted(old_routes - set(routes))]
        changes += [f"route added: {r}" for r in sorted(set(routes) - old_routes)]
    for key in ("sunsetOn", "deprecatedOn"):
        if old.get(key) != entry.get(key):
            changes.append(f"{key} {old.get(key)} -> {entry.get(key)}")
    return changes


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


def judged_by(config: Mapping[str, Any] | None, new_stack: bool, today: date | None) -> Any:
    """The policy pack config of this preview: the given one, or that of a new stack, with the
    day to judge by for every ledger policy."""
    merged: dict[str, Any] = {
        name: dict(value) if isinstance(value, Mapping) else value
        for name, value in (config or {}).items()
    }
    if new_stack:
        for name, settings in policy_config(None).items():
            merged.setdefault(name, {}).update(settings)
    if today is not None:
        for name in LEDGER_POLICIES:
            merged.setdefault(name, {})["today"] = today.isoformat()
    return merged or None


def preview(
    stack: str,
    config_file: Path,
    pack_config: Mapping[str, Any] | None,
    *,
    new_stack: bool = False,
    today: date | None = None,
    write_outputs: Path | None = None,
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
        settings = file_settings(stack, config_file, today)
    except (ConfigError, StackFileError) as error:
        print("config error)")
        print(error)
        print("Result: FAILED (config error, nothing registered)")
        return 1
    judged = judged_by(pack_config, new_stack, today)
    ledger = ((judged or {}).get(LEDGER_POLICIES[0]) or {}).get("ledger")
    deployed: Deployed | None = None
    if isinstance(ledger, Mapping):
        deployed = deployed_from_ledger(ledger, settings)
        print(
            f"update of its ledger's deployment, {len(deployed.unchanged)} function(s) unchanged)"
        )
    elif new_stack:
        print("first deployment, computed values unknown)")
    else:
        deployed = Deployed(versions=frozenset(v.logical_name for v in settings.versions()),
                            published={})  # fmt: skip
        print("no ledger: the pack fails closed)")
    day = today.isoformat() if today else None
    run = run_program(
        stack_file.config, stack=stack, preview=True, deployed=deployed,
        secret_keys=stack_file.secret_keys, today=day,
    )  # fmt: skip
    if run.error is not None:
        print(run.error)
        print("Result: FAILED (the program stopped, nothing more registered)")
        return 1
    for warning in run.warnings:
        print(f"  warning: {warning}")
    print("\n".join(plan_lines(run, ledger if isinstance(ledger, Mapping) else None)))
    try:
        violations = analyze_run(run, policy_config=judged)
    except (PolicyConfigError, PolicyPackError) as error:
        print(f"Policy pack refused the run: {str(error).splitlines()[0]}")
        print("Result: FAILED (the engine would stop before previewing)")
        return 1
    print("Policy verdicts (pack policies/):")
    print("\n".join(verdict_lines(violations)))
    mandatory = [v for v in violations if v.mandatory]
    print(f"Result: {'FAILED' if mandatory else 'OK'} ({len(mandatory)} mandatory violation(s))")
    if write_outputs is not None and not mandatory:
        deployment = run_program(
            stack_file.config, stack=stack, deployed=deployed,
            secret_keys=stack_file.secret_keys, today=day,
        )  # fmt: skip
        write_outputs.write_text(json.dumps(deployment.outputs, indent=2, sort_keys=True) + "\n")
        print(f"wrote {write_outputs} (the outputs this deployment would have)")
    return 1 if mandatory else 0


def main(argv: Sequence[str]) -> int:
    """Run the offline preview for one stack file or all of them."""
    parser = argparse.ArgumentParser(
        prog="mlserve preview", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="stack name, e.g. prod (reads Pulumi.<stack>.yaml)")
    target.add_argument("--all", action="store_true", help="every Pulumi.<stack>.yaml")
    parser.add_argument("--config-file", type=Path, help="another stack file for --stack")
    parser.add_argument("--ledger", type=Path, help="--policy-pack-config file (mlserve ledger)")
    parser.add_argument(
        "--new-stack", action="store_true", help="a first deployment: no ledger (newStack)"
    )
    parser.add_argument("--today", type=date.fromisoformat, help="judge as of YYYY-MM-DD")
    parser.add_argument("--write-outputs", type=Path, help="write the deployment's outputs here")
    parser.add_argument(
        "--promote-from", type=Path, metavar="FILE",
        help="the stack output (or ledger) of the stack this one is promoted from",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.all and (args.ledger or args.config_file or args.write_outputs or args.promote_from):
        parser.error(
            "--ledger, --config-file, --write-outputs and --promote-from belong to one stack: "
            "use --stack"
        )
    pack_config = None
    if args.ledger:
        try:
            pack_config = json.loads(args.ledger.read_text())
        except (OSError, json.JSONDecodeError) as error:
            parser.error(f"--ledger {args.ledger}: {error}")
        if looks_like_stack_output(pack_config):
            parser.error(
                f"--ledger {args.ledger} is `pulumi stack output`, not a ledger; run "
                f"`python -m mlserve ledger --from {args.ledger} --out ledger.json` first"
            )
    if args.promote_from is not None:
        try:
            pack_config = with_promotion(pack_config or {}, promotion_ledger(args.promote_from))
        except LedgerError as error:
            parser.error(str(error))
    files = stack_files()
    if args.all:
        targets = list(files.items())
    else:
        config_file = args.config_file or files.get(args.stack)
        if config_file is None or not config_file.is_file():
            parser.error(f"no stack file for {args.stack!r}; known stacks: {', '.join(files)}")
        targets = [(args.stack, config_file)]
    results = [
        preview(
            stack, path, pack_config, new_stack=args.new_stack, today=args.today,
            write_outputs=args.write_outputs,
        )
        for stack, path in targets
    ]  # fmt: skip
    return max(results)
