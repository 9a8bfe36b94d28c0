"""AnalyzeStack cost per resource: our policy pack vs. a one-policy no-op pack, over the real gRPC
Analyzer protocol, at about 10k and 50k resources.

Both packs are started exactly as the engine starts them (mlserve/analyzer) with the same stack
config, configured once, then only the AnalyzeStack call is timed: all four (pack, size) pairs in
every round, in rotating order, so machine noise hits them alike; medians and ratios are reported.

The resources are what the real program registers (non-preview, so no unknowns) for one generated
stack per size: services of 5 versions each (in three services of five, the last among them, v1
is deprecated with successor v2: a stack counts the callers of at most 100 deprecated versions),
each service on its own HTTP API (mlserve:api.layout perService) mapped on one custom domain, so
both are deployable stacks within every per-API quota. Each version declares 25 more predict
routes than its template (28 routes: 56 of its ~65 resources are routes and their permissions),
which keeps the 50k stack's config under the 128 KiB the engine can pass the pack on Linux
(PULUMI_CONFIG, one environment string). The ledger lists every version, so every stack policy
evaluates every route, deprecated function and ledger entry; a tampered copy of each request must
then be caught at its last resource. Afterwards each pack's peak memory (VmHWM) is read.

Targets: ours <= 1.5x the floor; 10k -> 50k resources <= 1.1x the resource ratio (~5.5x).
Run: .venv/bin/python bench/policy_scaling.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pulumi.runtime.proto import analyzer_pb2  # noqa: E402

from mlserve.analyzer import RunningPack, resources_from_run, running_pack  # noqa: E402
from mlserve.ledger import policy_config_from_stack_output  # noqa: E402
from mlserve.offline import ProgramRun, run_program  # noqa: E402
from tests.support.stacks import GENERATED_DOMAIN, generated_code  # noqa: E402

STACK = "bench"
VERSIONS_PER_SERVICE = 5
DEPRECATED_PER_SERVICE = 1  # in three of every five services
EXTRA_ROUTES = 25
SERVICES = {"10k": 31, "50k": 155}
NOOP_PACK = ROOT / "bench" / "noop_pack"
RATIO_TARGET = 1.5
GROWTH_SLACK = 1.1
STACK_POLICIES = (
    "api-routes-invoke-own-version",
    "deprecated-versions-announce-sunset",
    "no-removal-of-non-deprecated-versions",
)
FUNCTION = "aws:lambda/function:Function"
ROUTE = "aws:apigatewayv2/route:Route"


def service_key(index: int) -> str:
    """A fixed-width service key, so no key is a prefix of another."""
    return f"model-{index:04d}"


def services_config(count: int, today: str) -> dict[str, Any]:
    """`count` services of v1..v5, v1 deprecated (successor v2) in three of every five services
    (the last one among them), the rest active."""
    day = datetime.fromisoformat(today).date()
    deprecated = {
        "status": "deprecated",
        "deprecatedOn": (day - timedelta(days=30)).isoformat(),
        "sunsetOn": (day + timedelta(days=365)).isoformat(),
        "successor": f"v{DEPRECATED_PER_SERVICE + 1}",
    }
    return {
        service_key(index): {
            "versions": {
                f"v{v}": {
                    "code": generated_code(service_key(index), f"v{v}", extra_routes=EXTRA_ROUTES),
                    **(
                        deprecated
                        if v <= DEPRECATED_PER_SERVICE and (count - 1 - index) % 5 < 3
                        else {"status": "active"}
                    ),
                }
                for v in range(1, VERSIONS_PER_SERVICE + 1)
            }
        }
        for index in range(count)
    }


def stack_config(services: dict[str, Any]) -> dict[str, str]:
    """The engine config of a generated stack: an API per service, one custom domain."""
    return {
        "aws:region": "us-east-1",
        "mlserve:environment": STACK,
        "mlserve:api": json.dumps({"layout": "perService", "domain": GENERATED_DOMAIN}),
        "mlserve:services": json.dumps(services),
    }


def stack_run(services: int, today: str) -> ProgramRun:
    """The real program run of one generated stack."""
    run = run_program(stack_config(services_config(services, today)), stack=STACK, today=today)
    if run.error:
        raise SystemExit(f"the program failed for {services} services:\n{run.error}")
    if run.warnings:
        raise SystemExit(f"the generated stack of {services} services warns: {run.warnings}")
    return run


def peak_memory_mb(pack: RunningPack) -> float:
    """The pack process's peak resident memory so far (Linux's VmHWM), in MB."""
    status = Path(f"/proc/{pack.process.pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
    return int(kilobytes) / 1024


@dataclass
class Subject:
    """One started pack and the AnalyzeStack request it is timed on."""

    label: str
    size: str
    pack: RunningPack
    request: analyzer_pb2.AnalyzeStackRequest
    resources: int
    seconds: list[float]


def timed(subject: Subject) -> float:
    """Seconds of one AnalyzeStack call; any diagnostic is an error of the setup."""
    start = time.perf_counter()
    response = subject.pack.call("AnalyzeStack", subject.request)
    elapsed = time.perf_counter() - start
    if response.diagnostics or response.not_applicable:
        shown = [f"{d.policyName}: {d.message}" for d in response.diagnostics[:5]]
        raise SystemExit(
            f"{subject.label} pack, {subject.size}: the valid stack got diagnostics, so the timing "
            f"would not be of a full evaluation: {shown} {list(response.not_applicable)[:5]}"
        )
    return elapsed


def tampered(resources: Sequence[analyzer_pb2.AnalyzerResource]) -> tuple[
    list[analyzer_pb2.AnalyzerResource], str, str
]:  # fmt: skip
    """The resources with the last route of the request keyed to another version, and the last
    service's v2 function gone (the successor of its deprecated version, an active ledger
    entry); also the route's URN and that service."""
    numbers = [int(r.name.split("-")[1]) for r in resources if r.type == FUNCTION]
    last_service = service_key(max(numbers))
    gone = f"{last_service}-v{DEPRECATED_PER_SERVICE + 1}"
    kept = [r for r in resources if not (r.type == FUNCTION and r.name == gone)]
    position = max(i for i, r in enumerate(kept) if r.type == ROUTE)
    route = analyzer_pb2.AnalyzerResource()
    route.CopyFrom(kept[position])
    method, path = route.properties["routeKey"].split(" ", 1)
    parts = path.split("/")  # on a service's own API: ["", "v3", "predict"]
    parts[1] = "v1" if parts[1] != "v1" else "v2"
    route.properties["routeKey"] = f"{method} {'/'.join(parts)}"
    kept[position] = route
    return kept, route.urn, last_service


def check_full_evaluation(subject: Subject, run_resources: list[Any]) -> None:
    """Every stack policy of our pack must catch a fault placed at the end of its input."""
    resources, route_urn, last_service = tampered(run_resources)
    violations = subject.pack.analyze_stack(resources)
    caught = {
        v.policy_name
        for v in violations
        if v.urn == route_urn or (v.policy_name != STACK_POLICIES[0] and last_service in v.message)
    }
    missing = [name for name in STACK_POLICIES if name not in caught]
    if missing:
        raise SystemExit(
            f"our pack, {subject.size}: {', '.join(missing)} missed the fault placed at the end "
            f"(route {route_urn}, service {last_service}): {violations[:5]}"
        )


def median_ratio(ours: list[float], floor: list[float]) -> float:
    """The median of the per-round ratios ours/floor."""
    return statistics.median(o / f for o, f in zip(ours, floor, strict=True))


def verdict(met: bool) -> str:
    """The word printed next to a ratio."""
    return "target met" if met else "target missed"


def main() -> None:
    """Build the resources, start the packs, measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--services", default=",".join(map(str, SERVICES.values())),
                        help="services of the small and the large stack")  # fmt: skip
    args = parser.parse_args()
    small_count, large_count = (int(n) for n in args.services.split(","))
    sizes = {"10k": small_count, "50k": large_count}
    today = datetime.now(UTC).date().isoformat()

    started = time.perf_counter()
    runs = {size: stack_run(count, today) for size, count in sizes.items()}
    print(f"built resources from {len(runs)} program runs in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip

    subjects: list[Subject] = []
    with ExitStack() as stack:
        for size, run in runs.items():
            resources = resources_from_run(run)
            request = analyzer_pb2.AnalyzeStackRequest(resources=resources)
            ledger = policy_config_from_stack_output(run.outputs, today)
            for label, pack_dir, policy_config in (
                ("ours", ROOT / "policies", ledger),
                ("floor", NOOP_PACK, None),
            ):
                pack = stack.enter_context(
                    running_pack(run.config, stack=STACK, dry_run=False, pack_dir=pack_dir)
                )
                pack.configure(policy_config)
                subject = Subject(label, size, pack, request, len(resources), [])
                timed(subject)  # warm: first-call imports and the config parse, as Analyze does
                if label == "ours":
                    check_full_evaluation(subject, resources)
                subjects.append(subject)
            passed = len(json.dumps(run.config, separators=(",", ":"))) / 1024
            print(f"{size}: {len(resources)} resources, request "
                  f"{request.ByteSize() / 1e6:.1f} MB, config {passed:.0f} KiB")  # fmt: skip

        for round_number in range(args.repeats):
            shift = round_number % len(subjects)
            order = subjects[shift:] + subjects[:shift]
            if round_number % 2:
                order.reverse()
            for subject in order:
                subject.seconds.append(timed(subject))
        memory = {(s.label, s.size): peak_memory_mb(s.pack) for s in subjects}

    by_key = {(s.label, s.size): s for s in subjects}
    print(f"\n{'size':>4} {'resources':>9} {'ours us/res':>12} {'floor us/res':>13} "
          f"{'ours ms':>8} {'floor ms':>9} {'ratio':>6}")  # fmt: skip
    for size in sizes:
        ours, floor = by_key[("ours", size)], by_key[("floor", size)]
        ratio = median_ratio(ours.seconds, floor.seconds)
        print(
            f"{size:>4} {ours.resources:>9} "
            f"{1e6 * statistics.median(ours.seconds) / ours.resources:>12.1f} "
            f"{1e6 * statistics.median(floor.seconds) / floor.resources:>13.1f} "
            f"{1e3 * statistics.median(ours.seconds):>8.0f} "
            f"{1e3 * statistics.median(floor.seconds):>9.0f} {ratio:>5.2f}x  "
            f"{verdict(ratio <= RATIO_TARGET)} (<= {RATIO_TARGET}x)"
        )
    small, large = list(sizes)
    linear = by_key[("ours", large)].resources / by_key[("ours", small)].resources
    growth = {
        label: statistics.median(by_key[(label, large)].seconds)
        / statistics.median(by_key[(label, small)].seconds)
        for label in ("ours", "floor")
    }
    print(
        f"growth {small} -> {large}: ours {growth['ours']:.2f}x, floor {growth['floor']:.2f}x "
        f"(linear is {linear:.2f}x, target <= {GROWTH_SLACK * linear:.2f}x)  "
        f"{verdict(growth['ours'] <= GROWTH_SLACK * linear)}"
    )
    print(f"{args.repeats} rounds; medians; ratio = median of per-round ours/floor")
    print("peak memory of each pack process (VmHWM): " + ", ".join(
        f"{label} {size} {mb:.0f} MB" for (label, size), mb in memory.items()))  # fmt: skip


if __name__ == "__main__":
    main()
