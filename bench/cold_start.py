"""Cold starts that look like Lambda's: each prod version's package as the program builds it,
extracted as /var/task, and the dependency layer the program builds as /opt/python, both
read-only, then a fresh `python -I -S -B` process per start that imports the handler and answers
its first request (the version's predict route with its declared example, as API Gateway sends
it). The floor is a bare powertools hello-world (an APIGatewayHttpResolver with one GET route) in
the same layout, answering its first request. Wall time of the whole process, interleaved;
medians.

The runtime is this machine's CPython minor (python3.11 on Debian 12) and the layer is the one
for this CPU, so both load here; packages and layer are the program's own bytes for that
runtime (components.bytecode compiles python3.11 and python3.13). Each twice: as shipped (with
the runtime's bytecode, unchecked-hash) and from source (the same trees without `__pycache__`:
what shipped before, when read-only /var/task and /opt made every start compile).

Target: a version's cold start (as shipped) <= 1.3x the floor's (as shipped).

Run: .venv/bin/python bench/cold_start.py [--starts 9]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "runtime"), str(Path(__file__).parent)]

from components.bytecode import compile_tree  # noqa: E402
from components.packaging import TASK_ROOT, built_package, layer_directory, package_files  # noqa: E402
from mlserve.stack_files import stack_settings  # noqa: E402
from mlserve_runtime.gateway_events import http_api_event  # noqa: E402

STACK = "prod"
TARGET = 1.3
MODES = ("shipped", "source")
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
ARCHITECTURE = {"x86_64": "x86_64", "aarch64": "arm64"}[platform.machine()]
BOOTSTRAP = """
import importlib, json, sys
task, opt, handler_name, event_file = sys.argv[1:5]
sys.path[:0] = [task, opt]
module_name, _, function_name = handler_name.rpartition(".")
handler = getattr(importlib.import_module(module_name), function_name)
with open(event_file) as events:
    response = handler(json.load(events), None)
print(response["statusCode"], file=sys.stderr)
"""
HELLO = '''"""A bare powertools hello-world: the cold-start floor."""
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()


@app.get("/hello")
def hello():
    return {"message": "hello"}


def handler(event, context):
    return app.resolve(event, context)
'''


def extracted(package: Path, target: Path) -> None:
    """A package's entries as Lambda unpacks them into /var/task."""
    with zipfile.ZipFile(package) as archive:
        archive.extractall(target)


def without_bytecode(tree: Path) -> None:
    for cache in list(tree.rglob("__pycache__")):
        shutil.rmtree(cache)


def read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def start_seconds(task: Path, opt: Path, handler: str, event: Path, env: dict[str, str]) -> float:
    """Wall seconds of one fresh process: interpreter, imports, the first request."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-B", str(task.parent / "bootstrap.py"), str(task),
         str(opt), handler, str(event)],
        cwd=task, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode != 0 or result.stderr.strip().splitlines()[-1:] != ["200"]:
        raise SystemExit(f"a cold start of {task} failed:\n{result.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=9, help="cold starts per subject and mode")
    args = parser.parse_args()
    settings = stack_settings(STACK)
    base_env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "TZ": ":UTC"}
    with tempfile.TemporaryDirectory(prefix="mlserve-cold-") as scratch:
        subjects: list[tuple[str, str, dict[str, str], dict[str, object]]] = [
            ("floor: powertools hello-world", "app.handler", {},
             http_api_event("GET", "/hello")),
        ]  # fmt: skip
        for version in settings.deployed_versions():
            route = version.routes_with_requests[0]
            assert version.surface is not None
            example = version.surface["routes"][route.key]["example"]
            event = http_api_event(
                route.method, version.base_path + route.path, body=json.dumps(example).encode(),
                headers={"content-type": "application/json"},
            )  # fmt: skip
            # a queue version starts with its consumer too: the runtime builds it at cold start
            results = (
                f"https://sqs.us-east-1.amazonaws.com/123456789012/{version.queue_name('results')}"
            )
            env = {**version.variables, **version.queue_variables(results)}
            subjects.append((f"{version.service}/{version.key}", version.handler, env, event))
        layout: dict[tuple[str, str], tuple[Path, Path, Path]] = {}
        layer = layer_directory(ROOT, RUNTIME, ARCHITECTURE) / "python"
        for mode in MODES:
            opt = Path(scratch) / mode / "opt" / "python"
            shutil.copytree(layer, opt)
            for label, _, _, event in subjects:
                root = (
                    Path(scratch) / mode / label.replace("/", "-").replace(":", "").replace(" ", "")
                )
                task = root / "task"
                if label.startswith("floor"):
                    task.mkdir(parents=True)
                    (task / "app.py").write_text(HELLO)
                    compile_tree(ROOT, RUNTIME, task, TASK_ROOT)
                else:
                    version = next(v for v in settings.deployed_versions()
                                   if f"{v.service}/{v.key}" == label)  # fmt: skip
                    assert version.code is not None
                    files = package_files(settings.project_root, version.code)
                    extracted(built_package(settings.project_root, files, RUNTIME), task)
                (root / "bootstrap.py").write_text(BOOTSTRAP)
                (root / "event.json").write_text(json.dumps(event))
                layout[(label, mode)] = (task, opt, root / "event.json")
            if mode == "source":
                without_bytecode(Path(scratch) / mode)
            read_only(Path(scratch) / mode)
        seconds: dict[tuple[str, str], list[float]] = {key: [] for key in layout}
        keys = list(layout)
        for label, handler, env, _ in subjects:  # warm the file system cache once
            for mode in MODES:
                task, opt, event_file = layout[(label, mode)]
                start_seconds(task, opt, handler, event_file, {**base_env, **env})
        handlers = {label: (handler, env) for label, handler, env, _ in subjects}
        for round_number in range(args.starts):
            shift = round_number % len(keys)
            for label, mode in keys[shift:] + keys[:shift]:
                task, opt, event_file = layout[(label, mode)]
                handler, env = handlers[label]
                seconds[(label, mode)].append(
                    start_seconds(task, opt, handler, event_file, {**base_env, **env})
                )
        for path in Path(scratch).rglob("*"):  # let the temporary folder go
            path.chmod(0o755 if path.is_dir() else 0o644)
    floor = {mode: statistics.median(seconds[(subjects[0][0], mode)]) for mode in MODES}
    print(f"cold start (a fresh process to its first answer), median of {args.starts} (ms)")
    print(f"runtime {RUNTIME} ({platform.python_version()}), layer {RUNTIME}/{ARCHITECTURE}")
    print(f"{'subject':<32} {'shipped':>8} {'x floor':>8} {'source':>9} {'x floor':>8}")
    missed = []
    for label, *_ in subjects:
        cells = [f"{label:<32}"]
        for mode, width in (("shipped", 8), ("source", 9)):
            median = statistics.median(seconds[(label, mode)])
            cells += [f"{1000 * median:>{width}.0f}", f"{median / floor[mode]:>7.2f}x"]
        ratio = statistics.median(seconds[(label, "shipped")]) / floor["shipped"]
        if not label.startswith("floor"):
            met = ratio <= TARGET
            cells.append("  target met" if met else "  target missed")
            if not met:
                missed.append(label)
        print(" ".join(cells))
    print(
        f"target: <= {TARGET}x the floor as shipped"
        + (f"; missed by {', '.join(missed)}" if missed else "; met by every version")
    )
    print(f"bytecode makes the floor's cold start {floor['source'] / floor['shipped']:.1f}x faster")
    for label, *_ in subjects[1:]:
        gain = statistics.median(seconds[(label, "source")]) / statistics.median(
            seconds[(label, "shipped")]
        )
        print(f"bytecode makes {label}'s cold start {gain:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
