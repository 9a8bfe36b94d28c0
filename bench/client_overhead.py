"""Client overhead per call: 1,000 sequential GETs of a version's health route on a local
keep-alive server, through `Client(url).churn.v2.health()` (httpx, pooled), through the same
client on the previous default transport (urllib: a new connection per call), and through raw
httpx on a kept-alive connection (the floor: the same bytes, no client). Interleaved rounds;
only ratios against the floor of the same run are reported.
Target: the client <= 1.2x the floor.
Run: .venv/bin/python bench/client_overhead.py [--calls 1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from mlserve_client import Client, Headers, HttpRequest, HttpResponse, TransportError  # noqa: E402

from tests.support.http_servers import serving  # noqa: E402

TARGET = 1.2


class UrllibTransport:
    """The client's transport before httpx: the standard library, one connection per call."""

    def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        wire = urllib.request.Request(
            request.url, data=request.body, headers=request.headers, method=request.method
        )
        try:
            with urllib.request.urlopen(wire, timeout=timeout) as answer:
                return HttpResponse(answer.status, Headers(answer.headers.items()), answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return HttpResponse(error.code, Headers(error.headers.items()), error.read())
        except OSError as error:
            raise TransportError(str(error)) from error


def timed(calls: int, call: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with serving("json") as (url, recorded):
        raw = httpx.Client()
        client = Client(url)
        old = Client(url, transport=UrllibTransport())
        subjects: dict[str, Callable[[], object]] = {
            "floor (raw httpx)": lambda: raw.get(f"{url}/churn/v2/health").content,
            "client (httpx)": client.churn.v2.health,
            "client (urllib, before)": old.churn.v2.health,
        }
        for call in subjects.values():
            timed(50, call)  # warm: imports, first connection, pydantic's first validation
        seconds: dict[str, list[float]] = {name: [] for name in subjects}
        for round_number in range(args.rounds):
            order = list(subjects)[round_number % 3 :] + list(subjects)[: round_number % 3]
            for name in order:
                seconds[name].append(timed(args.calls, subjects[name]))
        connections = recorded.connections
    floor = seconds["floor (raw httpx)"]
    print(f"{args.calls} sequential calls x {args.rounds} rounds; medians; ratio = median of "
          "per-round time / floor")  # fmt: skip
    print(f"{'subject':<26} {'us/call':>9} {'ratio':>7}")
    for name, times in seconds.items():
        ratio = statistics.median(t / f for t, f in zip(times, floor, strict=True))
        verdict = ""
        if name == "client (httpx)":
            verdict = "  target met" if ratio <= TARGET else "  target missed"
            verdict += f" (<= {TARGET}x)"
        print(f"{name:<26} {1e6 * statistics.median(times) / args.calls:>9.1f} {ratio:>6.2f}x"
              f"{verdict}")  # fmt: skip
    print(f"connections the server accepted: {connections}")


if __name__ == "__main__":
    main()
