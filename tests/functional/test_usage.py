"""`mlserve usage`: access-log lines rendered from the format the program registers (so the format
and the parser cannot drift), read back per version and caller; the Logs Insights path against
botocore's Stubber; the sunset check; bad lines and arguments."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mlserve import catalogue
from mlserve.offline import ProgramRun
from mlserve.ops import usage
from mlserve.stack_files import stack_settings
from tests.conftest import TODAY

STAGE = "aws:apigatewayv2/stage:Stage"
ROUTE = "aws:apigatewayv2/route:Route"
STACK = "prod"
START = datetime(2026, 11, 20, tzinfo=UTC)
CALLERS = [  # (identity variables, the caller the report should name)
    ({"$context.identity.userArn": "arn:aws:sts::210987654321:assumed-role/partner/s-1",
      "$context.identity.caller": "AROAEXAMPLE:s-1",
      "$context.identity.accountId": "210987654321",
      "$context.identity.userAgent": "mlserve-client/1.4.0 app/partner"},
     "arn:aws:sts::210987654321:assumed-role/partner"),
    ({"$context.identity.userAgent": "mlserve-client/1.4.0 app/billing"},
     "mlserve-client/1.4.0 app/billing"),
    ({}, usage.UNIDENTIFIED),
]  # fmt: skip


def render_line(log_format: str, variables: dict[str, str]) -> str:
    """One access-log line as API Gateway writes it: each `$context.x` of the format replaced by
    its value, `-` when the request has none."""
    return re.sub(r"\$context\.[A-Za-z.]+", lambda m: variables.get(m.group(0), "-"), log_format)


def rendered_log(run: ProgramRun) -> tuple[list[str], dict[str, dict[str, dict[str, Any]]]]:
    """Lines for requests on every registered route from each caller (the n-th route called n
    times), each in its API's stage's format, and the report they must give: a service's own API
    (perService) names its service in its format and keys its routes without `/<service>`."""
    stages = {stage.inputs["apiId"]: stage for stage in run.of_type(STAGE)}
    lines: list[str] = []
    expected: dict[str, dict[str, Counter[str]]] = {}
    routes = sorted((r.inputs["routeKey"], r.inputs["apiId"]) for r in run.of_type(ROUTE))
    for n, (key, api) in enumerate(routes, start=1):
        log_format = str(stages[api].inputs["accessLogSettings"]["format"])
        own_service = json.loads(log_format).get("service")
        path = key.split(" ")[1]
        public_path = f"/{own_service}{path}" if own_service else path
        service, version = public_path.split("/")[1:3]
        entry = expected.setdefault(service, {}).setdefault(version, Counter())
        for identity, caller in CALLERS:
            for i in range(n):
                moment = START + timedelta(minutes=n, seconds=i)
                variables = {
                    **identity,
                    "$context.routeKey": key,
                    "$context.path": public_path,
                    "$context.status": "200",
                    "$context.requestId": f"r-{n}-{i}",
                    "$context.requestTimeEpoch": str(int(moment.timestamp() * 1000)),
                    "$context.requestTime": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                }
                lines.append(render_line(log_format, variables))
                entry[caller] += 1
    report = {
        service: {
            version: {"requests": sum(c.values()), "callers": dict(c.most_common())}
            for version, c in versions.items()
        }
        for service, versions in expected.items()
    }
    return lines, report


def run_usage(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = usage.main(["--stack", STACK, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("run_fixture", ["prod_run", "prod_per_service_run"])
def test_given_rendered_access_log_when_reported_then_requests_and_callers_per_version(
    run_fixture: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an access log in exactly the registered format(s), on either layout
    run: ProgramRun = request.getfixturevalue(run_fixture)
    lines, expected = rendered_log(run)
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    # WHEN the report is asked for as JSON
    code, out, err = run_usage(capsys, "--access-log", str(log), "--json")
    # THEN standard output is only the report, equal to the requests made
    assert code == 0, err
    assert json.loads(out) == expected
    assert err == ""


def test_given_rendered_access_log_when_reported_as_text_then_deprecated_callers_are_flagged(
    prod_run: ProgramRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, expected = rendered_log(prod_run)
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines))
    code, out, _ = run_usage(capsys, "--access-log", str(log), "--today", TODAY)
    assert code == 0
    today = date.fromisoformat(TODAY)
    for version in stack_settings(STACK).deployed_versions():
        (line,) = [x for x in out.splitlines() if x.startswith(f"{version.service} {version.key} ")]
        requests = expected[version.service][version.key]["requests"]
        assert line.endswith(f": {requests} request(s)"), line
        if version.status == "deprecated":
            assert version.sunset_on is not None
            assert f"{(version.sunset_on - today).days} day(s) to sunset" in line
            assert f"{len(CALLERS)} caller(s) to move to {version.successor}" in line
        else:
            assert "sunset" not in line
    for _, caller in CALLERS:
        assert caller in out


def test_given_since_and_until_when_reported_then_only_requests_in_the_range_count(
    prod_run: ProgramRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, _ = rendered_log(prod_run)
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines))
    since, until = START + timedelta(minutes=2), START + timedelta(minutes=4)
    inside = [x for x in lines if since <= usage.request_time(json.loads(x)) < until]  # type: ignore[operator]
    assert 0 < len(inside) < len(lines)
    window = ["--since", since.isoformat(), "--until", until.isoformat()]
    code, out, _ = run_usage(capsys, "--access-log", str(log), "--json", *window)
    assert code == 0
    report = json.loads(out)
    assert sum(v["requests"] for versions in report.values() for v in versions.values()) == len(
        inside
    )


def test_given_old_format_and_bad_lines_when_reported_then_old_lines_count_and_bad_are_summed(
    prod_run: ProgramRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a line of the format before the caller fields, and lines no format can read
    route = sorted(r.inputs["routeKey"] for r in prod_run.of_type(ROUTE))[0]
    service, version = route.split(" ")[1].split("/")[1:3]
    old = json.dumps({"requestId": "a", "routeKey": route, "status": "200",
                      "integrationLatency": "5", "responseLatency": "6", "integrationError": "-",
                      "sourceIp": "203.0.113.9",
                      "requestTime": "20/Nov/2026:10:00:00 +0000"})  # fmt: skip
    bad = ["{not json", "[1, 2]", json.dumps({"status": "200"}), "",
           json.dumps({"routeKey": "-", "status": "404"})]  # fmt: skip
    log = tmp_path / "access.log"
    log.write_text("\n".join([old, *bad]))
    # WHEN reported as JSON
    code, out, err = run_usage(capsys, "--access-log", str(log), "--json")
    # THEN the old line counts (caller unidentified), the others are summed up on stderr
    assert code == 0
    assert json.loads(out) == {
        service: {version: {"requests": 1, "callers": {usage.UNIDENTIFIED: 1}}}
    }
    assert f"skipped {len(bad)} of {len(bad) + 1} line(s)" in err
    assert "1 not JSON (first on line 2)" in err
    assert "Traceback" not in err


def test_given_sunset_near_when_checked_then_it_fails_naming_the_callers(
    prod_run: ProgramRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, _ = rendered_log(prod_run)
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines))
    deprecated = [v for v in stack_settings(STACK).deployed_versions() if v.status == "deprecated"]
    assert deprecated, "the example prod stack has a deprecated version"
    sunset = min(v.sunset_on for v in deprecated if v.sunset_on)
    near = (sunset - timedelta(days=3)).isoformat()
    code, _, err = run_usage(capsys, "--access-log", str(log), "--check-sunset", "--today", near)
    assert code == 1
    for _, caller in CALLERS:
        assert caller in err
    assert "3 day(s) before its sunset" in err
    code, _, err = run_usage(capsys, "--access-log", str(log), "--check-sunset", "--today", near,
                             "--within", "2")  # fmt: skip
    assert code == 0, err


def test_given_insights_when_reported_then_one_query_counts_routes_and_callers(
    prod_run: ProgramRun,
) -> None:
    # GIVEN Logs Insights answering the report's query, running once, then complete
    settings = stack_settings(STACK)
    route = sorted(r.inputs["routeKey"] for r in prod_run.of_type(ROUTE))[0]
    service, version = route.split(" ")[1].split("/")[1:3]
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")  # fmt: skip
    since, until = START, START + timedelta(days=1)
    rows = [
        [{"field": "routeKey", "value": route}, {"field": "userArn", "value": "-"},
         {"field": "userAgent", "value": "curl/8.0"}, {"field": "requests", "value": "7"}],
        [{"field": "routeKey", "value": route},
         {"field": "userArn", "value": "arn:aws:iam::123456789012:user/ana"},
         {"field": "userAgent", "value": "curl/8.0"}, {"field": "requests", "value": "2"}],
        [{"field": "routeKey", "value": "-"}, {"field": "requests", "value": "4"}],
    ]  # fmt: skip
    with Stubber(logs) as stub:
        stub.add_response(
            "start_query", {"queryId": "q-1"},
            {"logGroupName": settings.api.access_log_group, "startTime": int(since.timestamp()),
             "endTime": int(until.timestamp()), "queryString": usage.insights_query(False),
             "limit": usage.INSIGHTS_ROWS},
        )  # fmt: skip
        stub.add_response("get_query_results", {"status": "Running", "results": []},
                          {"queryId": "q-1"})  # fmt: skip
        stub.add_response("get_query_results", {"status": "Complete", "results": rows},
                          {"queryId": "q-1"})  # fmt: skip
        # WHEN the report is made from it
        tally = usage.query_insights(logs, settings.api.access_log_group, since, until,
                                     sleep=lambda _: None)  # fmt: skip
        stub.assert_no_pending_responses()
    # THEN the rows are summed per version and caller, the unrouted row skipped
    assert tally.report() == {
        service: {version: {"requests": 9, "callers": {"curl/8.0": 7,
                                                        "arn:aws:iam::123456789012:user/ana": 2}}}
    }  # fmt: skip
    assert "1 row(s) on no version's route" in (tally.summary() or "")


def test_given_per_service_apis_when_reported_from_insights_then_rows_count_by_public_route(
    prod_per_service_run: ProgramRun,
) -> None:
    # GIVEN a service's own API's route, as its access log names it (no /<service>, the service
    # a field of the line), and Logs Insights grouping by that field too
    stage = prod_per_service_run.of_type(STAGE)[0]
    own_service = json.loads(stage.inputs["accessLogSettings"]["format"])["service"]
    route = sorted(r.inputs["routeKey"] for r in prod_per_service_run.of_type(ROUTE)
                   if r.inputs["apiId"] == stage.inputs["apiId"])[0]  # fmt: skip
    version = route.split(" ")[1].split("/")[1]
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")  # fmt: skip
    rows = [[{"field": "routeKey", "value": route}, {"field": "service", "value": own_service},
             {"field": "userAgent", "value": "curl/8.0"}, {"field": "requests", "value": "3"}],
            [{"field": "routeKey", "value": route}, {"field": "userAgent", "value": "curl/8.0"},
             {"field": "requests", "value": "5"}]]  # fmt: skip
    query = usage.insights_query(True)
    assert "by routeKey, service, userArn, userAgent" in query
    with Stubber(logs) as stub:
        stub.add_response("start_query", {"queryId": "q-3"}, {
            "logGroupName": "/aws/apigateway/x", "startTime": int(START.timestamp()),
            "endTime": int(START.timestamp()) + 3600, "queryString": query,
            "limit": usage.INSIGHTS_ROWS})  # fmt: skip
        stub.add_response("get_query_results", {"status": "Complete", "results": rows})
        # WHEN the report is made on the perService layout
        tally = usage.query_insights(logs, "/aws/apigateway/x", START, START + timedelta(hours=1),
                                     sleep=lambda _: None, per_service=True)  # fmt: skip
    # THEN the row naming its service counts for that service's version; the one without a
    # service is on no public route
    assert tally.report() == {own_service: {version: {"requests": 3, "callers": {"curl/8.0": 3}}}}
    assert "1 row(s) on no version's route" in (tally.summary() or "")


def test_given_failed_insights_query_when_reported_then_the_error_says_what_to_do() -> None:
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")  # fmt: skip
    with Stubber(logs) as stub:
        stub.add_response("start_query", {"queryId": "q-2"})
        stub.add_response("get_query_results", {"status": "Failed", "results": []})
        with pytest.raises(usage.UsageError, match="ended Failed; run it again"):
            usage.query_insights(logs, "/aws/apigateway/x", START, START + timedelta(hours=1),
                                 sleep=lambda _: None)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "is not an ISO date or time"),
        (["--since", "2026-11-02", "--until", "2026-11-01"], "is not before --until"),
        (["--within", "-3"], "is not a whole number of days"),
    ],
)
def test_given_bad_arguments_when_run_then_usage_exits_2_saying_why(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        usage.main(["--stack", STACK, "--access-log", "/dev/null", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_given_unknown_stack_or_missing_file_when_run_then_it_exits_1_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert usage.main(["--stack", "nope", "--access-log", "/dev/null"]) == 1
    assert "nope" in capsys.readouterr().err
    missing = tmp_path / "missing.log"
    assert usage.main(["--stack", STACK, "--access-log", str(missing)]) == 1
    assert f"cannot read --access-log {missing}" in capsys.readouterr().err


def test_given_usage_report_when_catalogue_rendered_then_deprecated_versions_list_callers(
    prod_run: ProgramRun,
) -> None:
    _, report = rendered_log(prod_run)
    settings = stack_settings(STACK)
    page = catalogue.render(settings, report)
    for version in settings.deployed_versions():
        heading = f"Callers of **{version.key}** at the last usage report"
        shown = heading in page.split(f"## {version.service}", 1)[1].split("\n## ", 1)[0]
        assert shown == (version.status == "deprecated"), version.key
    for _, caller in CALLERS:
        assert f"`{caller}`" in page
    assert catalogue.render(settings) == catalogue.render(settings, None)
    assert "Callers of" not in catalogue.render(settings)


def test_given_impossible_request_time_when_ranged_then_the_line_is_skipped_not_a_traceback(
    prod_run: ProgramRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    route = sorted(r.inputs["routeKey"] for r in prod_run.of_type(ROUTE))[0]
    log = tmp_path / "access.log"
    log.write_text(json.dumps({"routeKey": route, "requestTimeEpoch": str(10**20)}) + "\n")
    code, out, err = run_usage(capsys, "--access-log", str(log), "--json", "--since", "2026-01-01")
    assert code == 0 and json.loads(out) == {}
    assert "1 without a readable request time" in err
