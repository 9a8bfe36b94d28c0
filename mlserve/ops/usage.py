"""`python -m mlserve usage --stack S`: requests and callers per service and version, from the
stage's access log, through CloudWatch Logs Insights or offline from an exported file.

A caller is the IAM principal when the request was signed (an assumed role without its session
name, so one role is one caller), else the user agent (`mlserve-client/<version> app/<name>` for
the generated client). `--check-sunset` exits 1 when a deprecated version whose sunset is within
`--within` days (or past) still has callers, and names them. Exit 2 is for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from components.settings import ConfigError, Settings
from mlserve.stack_files import StackFileError, stack_settings
from mlserve_runtime.conventions import (
    ACCESS_LOG_EMPTY,
    ACCESS_LOG_SERVICE,
    ROUTE_KEY,
    caller_of,
    logged_route_key,
)

UNIDENTIFIED = "(unidentified)"  # neither a signed principal nor a user agent in the line
DEFAULT_DAYS = 30  # the Logs Insights range when --since is not given
DEFAULT_WITHIN_DAYS = 14
EPOCH_MS_ABOVE = 10**11
INSIGHTS_ROWS = 10_000  # Logs Insights returns at most this many rows per query


def insights_query(per_service: bool) -> str:
    """Requests by route and caller; on the perService layout by the line's service too, since
    a service's own API logs its routes without `/<service>` (conventions.access_log_format)."""
    by = f"routeKey, {ACCESS_LOG_SERVICE}, " if per_service else "routeKey, "
    return (
        f"fields {by}userArn, userAgent"
        " | filter ispresent(routeKey)"
        f" | stats count(*) as requests by {by}userArn, userAgent"
        f" | limit {INSIGHTS_ROWS}"
    )


FINISHED = {"Complete", "Failed", "Cancelled", "Timeout", "Unknown"}
Report = dict[str, dict[str, dict[str, Any]]]  # service -> version -> requests, callers


class UsageError(Exception):
    """A usage report that cannot be made; the message says why and what to do."""


@dataclass
class Tally:
    """Requests per service, version and caller, and what was left out and why."""

    counts: defaultdict[tuple[str, str], Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    lines: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    first_skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, route_key: str, caller: str | None, requests: int = 1) -> bool:
        """Count requests of a route key; False when it is no version's route."""
        match = ROUTE_KEY.fullmatch(route_key)
        if match is None:
            return False
        self.counts[(match.group(2), match.group(3))][caller or UNIDENTIFIED] += requests
        return True

    def skip(self, reason: str, line: int) -> None:
        self.skipped[reason] += 1
        self.first_skipped.setdefault(reason, line)

    def report(self) -> Report:
        """`{service: {version: {"requests": N, "callers": {caller: N}}}}`, busiest first."""
        report: Report = {}
        for (service, version), callers in sorted(
            self.counts.items(), key=lambda item: _key_order(item[0])
        ):
            report.setdefault(service, {})[version] = {
                "requests": sum(callers.values()),
                "callers": dict(callers.most_common()),
            }
        return report

    def summary(self) -> str | None:
        """What was skipped or is incomplete, for standard error; None when nothing."""
        lines = list(self.warnings)
        if self.skipped:
            parts = [
                f"{count} {reason} (first on line {self.first_skipped[reason]})"
                for reason, count in self.skipped.most_common()
            ]
            total = sum(self.skipped.values())
            lines.append(f"skipped {total} of {self.lines} line(s): {'; '.join(parts)}")
        return "\n".join(lines) or None


def request_time(entry: Mapping[str, Any]) -> datetime | None:
    """When a request arrived: `requestTimeEpoch`, else the older lines' `requestTime`
    (`02/Dec/2026:03:43:57 +0000`). API Gateway documents the epoch in milliseconds for REST
    and WebSocket APIs and gives no unit for HTTP APIs, so a value past 10^11 (the year 5138 in
    seconds) is read as milliseconds, a smaller one as seconds."""
    epoch = entry.get("requestTimeEpoch")
    if isinstance(epoch, str) and epoch.isdigit():
        epoch = int(epoch)
    if isinstance(epoch, int | float) and not isinstance(epoch, bool) and epoch >= 0:
        try:
            return datetime.fromtimestamp(epoch / 1000 if epoch > EPOCH_MS_ABOVE else epoch, UTC)
        except (OverflowError, OSError, ValueError):
            return None  # no date a request can have
    text = entry.get("requestTime")
    if isinstance(text, str):
        try:
            return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z")
        except ValueError:
            return None
    return None


def read_access_log(
    lines: Iterable[str], since: datetime | None = None, until: datetime | None = None
) -> Tally:
    """Count an exported access log, one JSON object per line in the stage's format; a line of
    the format before the caller fields is read too, its caller unidentified."""
    tally = Tally()
    for number, line in enumerate(lines, start=1):
        tally.lines += 1
        if not line.strip():
            tally.skip("empty", number)
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            tally.skip("not JSON", number)
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("routeKey"), str):
            tally.skip("without a routeKey", number)
            continue
        if since is not None or until is not None:
            moment = request_time(entry)
            if moment is None:
                tally.skip("without a readable request time", number)
                continue
            if (since is not None and moment < since) or (until is not None and moment >= until):
                continue  # outside the range: not counted, not a problem
        if not tally.add(logged_route_key(entry) or "", caller_of(entry)):
            tally.skip("on no version's route (API Gateway's own 404s)", number)
    return tally


def query_insights(
    logs: Any,
    log_group: str,
    since: datetime,
    until: datetime,
    sleep: Callable[[float], None] = time.sleep,
    timeout_seconds: float = 300,
    per_service: bool = False,
) -> Tally:
    """Count the log group's requests in [since, until) with one Logs Insights query."""
    started = logs.start_query(
        logGroupName=log_group,
        startTime=int(since.timestamp()),
        endTime=int(until.timestamp()),
        queryString=insights_query(per_service),
        limit=INSIGHTS_ROWS,
    )
    query_id = started["queryId"]
    waited = 0.0
    while True:
        answer = logs.get_query_results(queryId=query_id)
        if answer["status"] in FINISHED:
            break
        if waited >= timeout_seconds:
            logs.stop_query(queryId=query_id)
            raise UsageError(f"the Logs Insights query {query_id} ran over {timeout_seconds:.0f} s")
        sleep(1.0)
        waited += 1.0
    if answer["status"] != "Complete":
        raise UsageError(
            f"the Logs Insights query {query_id} ended {answer['status']}; run it again, or "
            "narrow --since/--until"
        )
    tally = Tally()
    for number, row in enumerate(answer.get("results", []), start=1):
        tally.lines += 1
        fields = {cell["field"]: cell.get("value") for cell in row}
        try:
            requests = int(fields.get("requests") or "")
        except ValueError:
            tally.skip("row(s) without a count", number)
            continue
        entry = {key: fields.get(key) or ACCESS_LOG_EMPTY for key in ("userArn", "userAgent")}
        logged = {key: fields.get(key) for key in ("routeKey", ACCESS_LOG_SERVICE)}
        if not tally.add(logged_route_key(logged) or "", caller_of(entry), requests):
            tally.skip("row(s) on no version's route", number)
    if len(answer.get("results", [])) >= INSIGHTS_ROWS:
        tally.warnings.append(
            f"Logs Insights returned its maximum of {INSIGHTS_ROWS} (route, caller) groups: "
            "the counts are incomplete; narrow --since/--until"
        )
    return tally


@dataclass(frozen=True)
class Finding:
    """A deprecated version that still has callers close to (or past) its sunset."""

    service: str
    version: str
    sunset_on: date
    days_left: int
    callers: dict[str, int]

    def __str__(self) -> str:
        when = (
            f"its sunset on {self.sunset_on} has passed"
            if self.days_left < 0
            else f"{self.days_left} day(s) before its sunset on {self.sunset_on}"
        )
        names = ", ".join(f"{caller} ({count})" for caller, count in self.callers.items())
        return f"{self.service} {self.version}: {when}, still called by {names}"


def sunset_findings(settings: Settings, report: Report, today: date, within: int) -> list[Finding]:
    """Deprecated versions with callers whose sunset is at most `within` days away."""
    findings = []
    for version in settings.deployed_versions():
        usage = report.get(version.service, {}).get(version.key)
        if version.status != "deprecated" or version.sunset_on is None or not usage:
            continue
        days_left = (version.sunset_on - today).days
        if days_left <= within:
            callers = usage["callers"]
            findings.append(
                Finding(version.service, version.key, version.sunset_on, days_left, callers)
            )
    return findings


def render(settings: Settings, report: Report, today: date, top: int = 10) -> list[str]:
    """The text report: each version's requests and callers; deprecated ones flagged with the
    days to their sunset."""
    lines = []
    known = {(v.service, v.key): v for v in settings.versions()}
    keys = sorted({*known, *((s, v) for s, vs in report.items() for v in vs)}, key=_key_order)
    for service, key in keys:
        version = known.get((service, key))
        usage = report.get(service, {}).get(key, {"requests": 0, "callers": {}})
        status = version.status if version is not None else "not in the stack config"
        flag = ""
        if version is not None and version.status == "deprecated" and version.sunset_on:
            days = (version.sunset_on - today).days
            left = f"{days} day(s) to sunset" if days >= 0 else f"sunset passed {-days} day(s) ago"
            flag = f" — {left} ({version.sunset_on})"
            if usage["callers"]:
                flag += f", {len(usage['callers'])} caller(s) to move to {version.successor}"
        lines.append(f"{service} {key} [{status}]{flag}: {usage['requests']} request(s)")
        callers = list(usage["callers"].items())
        lines += [f"    {count:>8}  {caller}" for caller, count in callers[:top]]
        if len(callers) > top:
            lines.append(f"    ... and {len(callers) - top} more caller(s) (--json lists all)")
    return lines


def _key_order(key: tuple[str, str]) -> tuple[str, int]:
    return key[0], int(key[1][1:])


def _moment(text: str) -> datetime:
    """An argparse type: an ISO date (midnight UTC) or date-time (UTC unless it says)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-12-01") from None


def _days(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days")
    return int(text)


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parse = argparse.ArgumentParser(
        prog="mlserve usage", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parse.add_argument("--stack", required=True, help="the stack, e.g. prod")
    parse.add_argument("--access-log", type=Path, metavar="FILE",
                       help="an exported access log (one JSON line per request) instead of "
                            "querying CloudWatch Logs Insights")  # fmt: skip
    parse.add_argument("--since", type=_moment, help="count requests from this time (ISO)")
    parse.add_argument("--until", type=_moment, help="count requests before this time (ISO)")
    parse.add_argument("--json", action="store_true", help="print only the JSON report")
    parse.add_argument(
        "--check-sunset", action="store_true",
        help="exit 1 if a version whose sunset is near still has callers",
    )  # fmt: skip
    parse.add_argument(
        "--within", type=_days, default=DEFAULT_WITHIN_DAYS, metavar="DAYS",
        help=f"how near a sunset counts (default {DEFAULT_WITHIN_DAYS})",
    )  # fmt: skip
    parse.add_argument("--today", type=_day, help="the day to count sunsets from (default today)")
    return parse


def main(argv: Sequence[str]) -> int:
    """Print the usage report; with --check-sunset, fail when a sunset would break a caller."""
    args = parser().parse_args(list(argv))
    if args.since and args.until and args.since >= args.until:
        parser().error(f"--since {args.since.isoformat()} is not before --until")
    today = args.today or date.today()
    try:
        settings = stack_settings(args.stack)
        tally = _tally(args, settings)
    except (ConfigError, StackFileError, UsageError) as error:
        print(f"mlserve usage: {error}", file=sys.stderr)
        return 1
    report = tally.report()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(render(settings, report, today) or ["no requests in the range"]))
    summary = tally.summary()
    if summary:
        print(summary, file=sys.stderr)
    if not args.check_sunset:
        return 0
    findings = sunset_findings(settings, report, today, args.within)
    for finding in findings:
        print(f"sunset check: {finding}", file=sys.stderr)
    if not findings:
        print(f"sunset check: no deprecated version within {args.within} day(s) of its sunset "
              "has callers", file=sys.stderr)  # fmt: skip
    return 1 if findings else 0


def _tally(args: argparse.Namespace, settings: Settings) -> Tally:
    if args.access_log is not None:
        try:
            with args.access_log.open(encoding="utf-8", errors="replace") as lines:
                return read_access_log(lines, args.since, args.until)
        except OSError as error:
            problem = error.strerror or error
            raise UsageError(f"cannot read --access-log {args.access_log}: {problem}") from None
    import boto3  # only the Logs Insights path talks to AWS
    from botocore.exceptions import BotoCoreError, ClientError

    until = args.until or datetime.now(UTC)
    since = args.since or until - timedelta(days=DEFAULT_DAYS)
    log_group = settings.api.access_log_group
    try:
        logs = boto3.client("logs", region_name=settings.region)
        return query_insights(logs, log_group, since, until, per_service=settings.api.per_service)
    except (BotoCoreError, ClientError) as error:
        raise UsageError(
            f"Logs Insights on {log_group} failed: {error}; check the AWS credentials and "
            "region, or report offline with --access-log FILE"
        ) from None
