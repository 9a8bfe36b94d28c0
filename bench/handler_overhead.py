"""Handler cost: cold import of each version's `app` module in a fresh process, and the
per-request overhead of the runtime lifecycle wrapper, each beside its floor, interleaved.

(a) Cold import, no target (context for cold starts). Each handler's real deployment package
(`package_contents` for the prod stack) is laid out as Lambda's /var/task and the dependency layer
as /opt/python (its packages copied from this venv: the same versions, built for this machine),
then `python -S` imports `app` with only those two and the stdlib on sys.path. The floor imports
the heavy dependencies alone: the names the runtime takes from pydantic and powertools (a bare
`import pydantic` loads almost nothing; pydantic loads lazily). Each twice: without bytecode, as
shipped (the package has no .pyc, the layer is built with --no-compile, and Lambda cannot write
__pycache__), and with bytecode compiled beforehand by this interpreter.

(b) Per request, target: the lifecycle wrapper adds < 5% or < 50 us. `versioned(bare, env)(event,
context)` vs `bare(event, context)` for the same real API Gateway 2.0 predict event, in blocks of
calls that alternate order; bare is the version's real handler loaded with an active environment
(its inner lifecycle is then a no-op) and env makes it active or deprecated. The trivial row wraps
a handler that returns a fixed response, to show the wrapper's own cost without the app's noise.

(c) Per request, target: the EMF metric line (one `Requests` line per request, written by
`mlserve_runtime.metrics`) adds < 5% or < 50 us. Each real handler loaded with its function
environment vs loaded without POWERTOOLS_METRICS_NAMESPACE (no line), same event, same pairing
as (b).

Run: .venv/bin/python bench/handler_overhead.py [--imports 7] [--blocks 25] [--calls 200]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "runtime")]

from components.packaging import layer_directory, package_files  # noqa: E402
from mlserve.stack_files import stack_settings  # noqa: E402
from mlserve_runtime.conventions import ENV_METRICS_NAMESPACE  # noqa: E402
from mlserve_runtime.lifecycle import versioned  # noqa: E402
from tests.support.events import http_api_event, load_handler  # noqa: E402

STACK = "prod"
# The names the runtime imports, not just `import pydantic`, which loads its modules lazily.
FLOOR_IMPORTS = (
    "from pydantic import BaseModel, ConfigDict, Field, ValidationError; "
    "from aws_lambda_powertools import Logger; "
    "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response"
)
FLOOR_LABEL = "floor: pydantic + powertools Logger, event_handler"
OVERHEAD_PERCENT = 5.0
OVERHEAD_MICROSECONDS = 50.0
LIFECYCLE_KEYS = ("MLSERVE_DEPRECATED_ON", "MLSERVE_SUNSET_ON", "MLSERVE_SUCCESSOR_PATH")
CUSTOMER = {"monthly_charges": 99.5, "support_calls": 4, "days_since_last_login": 30,
            "tenure_months": 2, "contract": "monthly"}  # fmt: skip
BODIES: dict[tuple[str, str], Any] = {
    ("churn", "v1"): {"features": [99.5, 4, 30, 1]},
    ("churn", "v2"): {"features": CUSTOMER},
    ("sentiment", "v1"): {"text": "The support team was really helpful!"},
    ("sentiment", "v2"): {
        "texts": ["The support team was really helpful!", "Checkout isn't easy."]
    },
}
IMPORT_SNIPPET = """
import sys, time
sys.path[:0] = {paths!r}
start = time.perf_counter()
{statement}
print(time.perf_counter() - start)
"""


@dataclass(frozen=True)
class LambdaContext:
    """The attributes of Lambda's context object that handlers read."""

    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    function_name: str = "churn_v2"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:churn_v2:prod_v2"


@dataclass
class ImportSubject:
    """One thing to import in a fresh process, with its task folder and environment."""

    label: str
    statement: str
    task: Path | None
    environment: dict[str, str]
    seconds: dict[str, list[float]] = field(default_factory=lambda: {"source": [], "pyc": []})


def layer_copy(target: Path) -> Path:
    """The dependency layer's packages, copied from this venv without bytecode, as /opt/python."""
    built = layer_directory(ROOT, "python3.12", "arm64") / "python"
    site_packages = Path(sysconfig.get_paths()["purelib"])
    python = target / "python"
    python.mkdir(parents=True)
    for entry in sorted(built.iterdir()):
        if entry.name == "bin":
            continue
        source = site_packages / entry.name
        if not source.exists():
            raise SystemExit(f"{entry.name} of the layer is not installed in this venv")
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(source, python / entry.name, ignore=ignore)
        else:
            shutil.copy2(source, python / entry.name)
    return python


def task_copy(target: Path, contents: Mapping[str, Path]) -> Path:
    """A deployment package's files laid out as Lambda unpacks them into /var/task."""
    for name, item in contents.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(item, path)
    return target


def import_seconds(subject: ImportSubject, layer: Path, mode: str) -> float:
    """Seconds to import the subject's modules in a fresh `python -S` process."""
    paths = [str(subject.task)] if subject.task else []
    paths.append(str(layer))
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        **subject.environment,
    }
    snippet = IMPORT_SNIPPET.format(paths=paths, statement=subject.statement)
    result = subprocess.run(
        [sys.executable, "-S", "-c", snippet],
        cwd=subject.task or layer,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"importing {subject.label} ({mode}) failed:\n{result.stderr}")
    return float(result.stdout.strip().splitlines()[-1])


def measure_imports(repeats: int) -> None:
    """(a): every handler and the floor, without and with bytecode, interleaved."""
    settings = stack_settings(STACK)
    with tempfile.TemporaryDirectory(prefix="mlserve-bench-") as scratch:
        trees = {}
        for mode in ("source", "pyc"):
            base = Path(scratch) / mode
            trees[mode] = layer_copy(base / "opt")
        subjects = [ImportSubject(FLOOR_LABEL, FLOOR_IMPORTS, None, {})]
        for version in settings.deployed_versions():
            assert version.code is not None
            environment = version.variables
            contents = package_files(settings.project_root, version.code)
            name = f"{version.service}/{version.key}"
            for mode in ("source", "pyc"):
                task_copy(Path(scratch) / mode / "task" / name, contents)
            subjects.append(ImportSubject(f"{name} app", "import app", Path(name), environment))
        if not compileall.compile_dir(Path(scratch) / "pyc", quiet=1, workers=1):
            raise SystemExit("compiling the bytecode copy failed")

        def run(subject: ImportSubject, mode: str) -> float:
            task = Path(scratch) / mode / "task" / subject.task if subject.task else None
            located = ImportSubject(subject.label, subject.statement, task, subject.environment)
            return import_seconds(located, trees[mode], mode)

        pairs = [(subject, mode) for subject in subjects for mode in ("source", "pyc")]
        for subject, mode in pairs:
            run(subject, mode)  # warm the file system cache
        for round_number in range(repeats):
            shift = round_number % len(pairs)
            for subject, mode in pairs[shift:] + pairs[:shift]:
                subject.seconds[mode].append(run(subject, mode))

    floor = subjects[0]
    print(f"(a) cold import in a fresh process, median of {repeats} (ms; no target); "
          "- floor = median of the same round's differences")  # fmt: skip
    print(f"{'module':<52} {'no pyc':>7} {'- floor':>8} {'with pyc':>9} {'- floor':>8}")
    for subject in subjects:
        cells = [f"{subject.label:<52}"]
        for mode, width in (("source", 7), ("pyc", 9)):
            cells.append(f"{1000 * statistics.median(subject.seconds[mode]):>{width}.0f}")
            paired = zip(subject.seconds[mode], floor.seconds[mode], strict=True)
            difference = 1000 * statistics.median(own - base for own, base in paired)
            cells.append(f"{'':>8}" if subject is floor else f"{difference:>+8.0f}")
        print(" ".join(cells))
    saved = statistics.median(
        source / compiled
        for source, compiled in zip(floor.seconds["source"], floor.seconds["pyc"], strict=True)
    )
    print(f"without bytecode the floor takes {saved:.1f}x as long (median of per-round ratios)")


def environments(function_env: Mapping[str, str], service: str) -> dict[str, dict[str, str]]:
    """The function's real environment made active, and made deprecated (sunset in a year)."""
    today = datetime.now(UTC).date()
    active = {
        key: value
        for key, value in function_env.items()
        if key not in LIFECYCLE_KEYS and key != "MLSERVE_LIFECYCLE"
    }
    active["MLSERVE_LIFECYCLE"] = "active"
    deprecated = {
        **active,
        "MLSERVE_LIFECYCLE": "deprecated",
        "MLSERVE_DEPRECATED_ON": (today - timedelta(days=30)).isoformat(),
        "MLSERVE_SUNSET_ON": (today + timedelta(days=365)).isoformat(),
        "MLSERVE_SUCCESSOR_PATH": f"/{service}/v9",
    }
    return {"active": active, "deprecated": deprecated}


def per_call(handler: Callable[[Any, Any], Any], event: Any, context: Any, calls: int) -> float:
    """Seconds per call over `calls` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        handler(event, context)
    return (time.perf_counter() - start) / calls


@dataclass(frozen=True)
class Overhead:
    """Paired block medians of one bare/wrapped comparison."""

    bare_us: float
    wrapped_us: float
    extra_us: float
    extra_percent: float

    @property
    def met(self) -> bool:
        """The target: under 5% or under 50 us."""
        return self.extra_percent < OVERHEAD_PERCENT or self.extra_us < OVERHEAD_MICROSECONDS


def compare(
    bare: Callable[[Any, Any], Any], wrapped: Callable[[Any, Any], Any], event: Any,
    blocks: int, calls: int,
) -> Overhead:  # fmt: skip
    """Blocks of calls of each, alternating which goes first; medians of the paired blocks."""
    context = LambdaContext()
    expected = bare(event, context)
    if expected.get("statusCode") != 200:
        raise SystemExit(f"the bare handler answered {expected} to the benchmark event")
    per_call(bare, event, context, calls)
    per_call(wrapped, event, context, calls)
    bare_times, wrapped_times = [], []
    for block in range(blocks):
        if block % 2:
            wrapped_times.append(per_call(wrapped, event, context, calls))
            bare_times.append(per_call(bare, event, context, calls))
        else:
            bare_times.append(per_call(bare, event, context, calls))
            wrapped_times.append(per_call(wrapped, event, context, calls))
    pairs = list(zip(bare_times, wrapped_times, strict=True))
    return Overhead(
        bare_us=1e6 * statistics.median(bare_times),
        wrapped_us=1e6 * statistics.median(wrapped_times),
        extra_us=1e6 * statistics.median(w - b for b, w in pairs),
        extra_percent=100 * (statistics.median(w / b for b, w in pairs) - 1),
    )


def fixed_response(event: Any, context: Any) -> dict[str, Any]:
    """A trivial payload 2.0 handler: the wrapper's floor."""
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}


def measure_requests(blocks: int, calls: int) -> None:
    """(b): the lifecycle wrapper over each real handler, active and deprecated."""
    settings = stack_settings(STACK)
    rows: list[tuple[str, str, Overhead]] = []
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        for version in settings.deployed_versions():
            envs = environments(version.variables, version.service)
            # Loaded active, the module's own lifecycle wrapper is the identity: bare handler.
            bare = load_handler(version.service, version.key, envs["active"]).handler
            path = f"/{version.service}/{version.key}/predict"
            event = http_api_event("POST", path, json_body=BODIES[(version.service, version.key)])
            for status, env in envs.items():
                rows.append(
                    (
                        f"{version.service}/{version.key} predict",
                        status,
                        compare(bare, versioned(bare, env), event, blocks, calls),
                    )
                )
        trivial_envs = environments({"MLSERVE_SERVICE": "churn", "MLSERVE_VERSION": "v1"}, "churn")
        event = http_api_event("POST", "/churn/v1/predict", json_body=BODIES[("churn", "v1")])
        for status, env in trivial_envs.items():
            wrapped = versioned(fixed_response, env)
            rows.append(("trivial handler", status, compare(fixed_response, wrapped, event,
                                                            blocks, calls * 10)))  # fmt: skip
    print(f"\n(b) lifecycle wrapper per request, {blocks} blocks of {calls} calls, paired medians")
    print(f"{'handler':<22} {'status':<10} {'bare us':>8} {'wrapped us':>11} {'extra us':>9} "
          f"{'extra':>7}")  # fmt: skip
    for label, status, result in rows:
        print(
            f"{label:<22} {status:<10} {result.bare_us:>8.1f} {result.wrapped_us:>11.1f} "
            f"{result.extra_us:>+9.2f} {result.extra_percent:>+6.1f}%  "
            f"{'target met' if result.met else 'target missed'} (< 5% or < 50 us)"
        )


def measure_metrics(blocks: int, calls: int) -> None:
    """(c): each real handler with its EMF line per request vs without."""
    settings = stack_settings(STACK)
    rows: list[tuple[str, Overhead]] = []
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        for version in settings.deployed_versions():
            counted = environments(version.variables, version.service)["active"]
            uncounted = {k: v for k, v in counted.items() if k != ENV_METRICS_NAMESPACE}
            assert ENV_METRICS_NAMESPACE in counted, "the function environment names a namespace"
            bare = load_handler(version.service, version.key, uncounted).handler
            measured = load_handler(version.service, version.key, counted).handler
            path = f"/{version.service}/{version.key}/predict"
            event = http_api_event("POST", path, json_body=BODIES[(version.service, version.key)])
            rows.append((f"{version.service}/{version.key} predict",
                         compare(bare, measured, event, blocks, calls)))  # fmt: skip
    print(f"\n(c) EMF metric line per request, {blocks} blocks of {calls} calls, paired medians")
    print(f"{'handler':<22} {'no EMF us':>10} {'EMF us':>8} {'extra us':>9} {'extra':>7}")
    for label, result in rows:
        print(
            f"{label:<22} {result.bare_us:>10.1f} {result.wrapped_us:>8.1f} "
            f"{result.extra_us:>+9.2f} {result.extra_percent:>+6.1f}%  "
            f"{'target met' if result.met else 'target missed'} (< 5% or < 50 us)"
        )


def main() -> None:
    """Measure and print the three tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--imports", type=int, default=7, help="fresh processes per module")
    parser.add_argument("--blocks", type=int, default=25)
    parser.add_argument("--calls", type=int, default=200, help="calls per block")
    args = parser.parse_args()
    measure_imports(args.imports)
    measure_requests(args.blocks, args.calls)
    measure_metrics(args.blocks, args.calls)


if __name__ == "__main__":
    main()
