"""Program cost per service version: __main__.py vs. the plain pulumi-aws floor, side by side.

Both run in this process under the same recording mock monitor, interleaved, so machine noise hits
both alike; only ratios are reported. The program turns off the cyclic garbage collector for its
own run (see __main__.py); the floor keeps it, as a plain program would. The stacks are generated:
services of 5 active versions, each service on its own HTTP API (mlserve:api.layout perService)
mapped on one custom domain, so every size is within the per-API quotas. Each size is run once
before it is timed (that run builds the packages), and at the largest size each program runs once
more in a fresh process to read its peak memory.
Targets: ours <= 1.2x the floor; 1,000 -> 2,500 versions <= 2.75x (linear is 2.5x).
Run: .venv/bin/python bench/program_cost.py [--repeats 3] [--sizes 100,1000,2500]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlserve.offline import run_program  # noqa: E402
from tests.support.stacks import GENERATED_DOMAIN, generated_code  # noqa: E402

SIZES = (100, 1000, 2500)
VERSIONS_PER_SERVICE = 5
PROGRAMS = {"ours": ROOT / "__main__.py", "floor": ROOT / "bench" / "floor_program.py"}


def config_for(versions: int) -> dict[str, str]:
    """A generated stack with `versions` active versions, an API per service, one domain."""
    services = {
        f"model-{s}": {
            "versions": {
                f"v{v + 1}": {"code": generated_code(f"model-{s}", f"v{v + 1}"), "status": "active"}
                for v in range(min(VERSIONS_PER_SERVICE, versions - s * VERSIONS_PER_SERVICE))
            }
        }
        for s in range(-(-versions // VERSIONS_PER_SERVICE))
    }
    return {
        "aws:region": "us-east-1",
        "mlserve:environment": "bench",
        "mlserve:api": json.dumps({"layout": "perService", "domain": GENERATED_DOMAIN}),
        "mlserve:services": json.dumps(services),
    }


def timed(program: Path, config: dict[str, str]) -> tuple[float, int]:
    """Seconds for one program run and the number of resources it registered."""
    start = time.perf_counter()
    run = run_program(config, stack="bench", program=program)
    elapsed = time.perf_counter() - start
    if run.error:
        raise SystemExit(run.error)
    return elapsed, len(run.registrations)


def peak_memory(program: str, size: int) -> float:
    """MB of peak resident memory of a fresh process running `program` once at `size`."""
    child = subprocess.run(
        [sys.executable, __file__, "--memory-of", program, "--sizes", str(size)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(child.stdout.split()[-1])


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--memory-of", choices=sorted(PROGRAMS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.memory_of:  # the child of peak_memory: one run, then this process's peak RSS
        timed(PROGRAMS[args.memory_of], config_for(sizes[-1]))
        # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into a child's ru_maxrss
        status = Path("/proc/self/status").read_text().splitlines()
        print(int(next(line.split()[1] for line in status if line.startswith("VmHWM"))) / 1024)
        return
    ours_program, floor_program = PROGRAMS["ours"], PROGRAMS["floor"]
    timed(ours_program, config_for(10))  # warm imports, the layer build and caches for both
    timed(floor_program, config_for(10))
    medians: dict[int, float] = {}
    print(f"{'versions':>8} {'resources':>9} {'ours ms/version':>16} {'floor ms/version':>17} "
          f"{'ratio':>6}")  # fmt: skip
    for size in sizes:
        config = config_for(size)
        resources = timed(ours_program, config)[1]  # builds this size's packages, untimed
        ours: list[float] = []
        floor: list[float] = []
        pair = [(ours_program, ours), (floor_program, floor)]
        for repeat in range(args.repeats):  # alternate which goes first
            for program, seconds in pair if repeat % 2 == 0 else pair[::-1]:
                elapsed, registered = timed(program, config)
                seconds.append(elapsed)
                resources = registered if seconds is ours else resources
        medians[size] = statistics.median(ours)
        ratio = statistics.median(o / f for o, f in zip(ours, floor, strict=True))
        print(
            f"{size:>8} {resources:>9} {1000 * medians[size] / size:>16.2f} "
            f"{1000 * statistics.median(floor) / size:>17.2f} {ratio:>5.2f}x  "
            f"{verdict(ratio <= 1.2)} (<= 1.2x)",
            flush=True,
        )
    if len(sizes) >= 2:
        small, large = sizes[-2], sizes[-1]
        growth, linear = medians[large] / medians[small], large / small
        print(
            f"growth {small} -> {large} versions: {growth:.2f}x (linear is {linear:.2f}x)  "
            f"{verdict(growth <= 1.1 * linear)} (<= {1.1 * linear:.2f}x)"
        )
    memory = {label: peak_memory(label, sizes[-1]) for label in PROGRAMS}
    print(f"peak memory at {sizes[-1]} versions (fresh process, one run): "
          + ", ".join(f"{label} {mb:.0f} MB" for label, mb in memory.items()))  # fmt: skip


def verdict(met: bool) -> str:
    """How a figure compares with its target."""
    return "target met" if met else "target missed"


if __name__ == "__main__":
    main()
