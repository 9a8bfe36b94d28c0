"""Program cost per service version: __main__.py vs. the plain pulumi-aws floor, side by side.

Both run in this process under the same recording mock monitor, interleaved, so machine noise hits
both alike; only ratios are reported. The program turns off the cyclic garbage collector for its
own run (see __main__.py); the floor keeps it, as a plain program would.
Targets: ours <= 1.2x the floor; 50 -> 250 versions <= 5.5x.
Run: .venv/bin/python bench/program_cost.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlserve.offline import run_program  # noqa: E402
from tests.support.stacks import generated_code  # noqa: E402

SIZES = (10, 50, 250)
VERSIONS_PER_SERVICE = 5


def config_for(versions: int) -> dict[str, str]:
    """A generated stack with `versions` active versions, routes within a raised route quota."""
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
        "mlserve:api": json.dumps({"routeQuota": 3 * versions + 1}),
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


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ours_program, floor_program = ROOT / "__main__.py", ROOT / "bench" / "floor_program.py"
    timed(ours_program, config_for(10))  # warm imports, the layer build and caches for both
    timed(floor_program, config_for(10))
    medians: dict[int, float] = {}
    print(f"{'versions':>8} {'resources':>9} {'ours ms/version':>16} {'floor ms/version':>17} "
          f"{'ratio':>6}")  # fmt: skip
    for size in SIZES:
        config = config_for(size)
        ours, floor = [], []
        for _ in range(args.repeats):
            seconds, resources = timed(ours_program, config)
            ours.append(seconds)
            floor.append(timed(floor_program, config)[0])
        medians[size] = statistics.median(ours)
        ratio = statistics.median(o / f for o, f in zip(ours, floor, strict=True))
        print(
            f"{size:>8} {resources:>9} {1000 * medians[size] / size:>16.2f} "
            f"{1000 * statistics.median(floor) / size:>17.2f} {ratio:>5.2f}x  "
            f"{verdict(ratio <= 1.2)} (<= 1.2x)"
        )
    growth = medians[250] / medians[50]
    print(
        f"growth 50 -> 250 versions: {growth:.2f}x (linear is 5.0x)  {verdict(growth <= 5.5)} "
        "(<= 5.5x)"
    )


def verdict(met: bool) -> str:
    """How a figure compares with its target."""
    return "target met" if met else "target missed"


if __name__ == "__main__":
    main()
