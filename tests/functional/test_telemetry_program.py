"""Telemetry under the recording monitor: the access log names callers within its limit; each
deprecated version (and only those) gets a callers rule, a request filter and an after-sunset
alarm on the access log of its own routes; the dashboard shows every deployed version."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from components.settings import ConfigError, settings_from_engine_config
from components.telemetry import (
    DASHBOARD_WIDGETS_LIMIT,
    PATTERN_LIMIT,
    RULE_FILTER_VALUES,
    callers_rule,
    dashboard_pages,
    requests_pattern,
)
from mlserve.offline import PROJECT_ROOT, ProgramRun, Registration, run_program
from mlserve.stack_files import stack_config, stack_files, stack_settings
from mlserve_runtime.conventions import (
    ACCESS_LOG_FORMAT_LIMIT,
    CALLER_KEYS,
    DEFAULT_DEPRECATION_WINDOW_DAYS,
    api_route_key,
)
from tests.conftest import TODAY
from tests.support.stacks import generated_config

STAGE = "aws:apigatewayv2/stage:Stage"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROUTE = "aws:apigatewayv2/route:Route"
ALIAS = "aws:lambda/alias:Alias"
API = "aws:apigatewayv2/api:Api"
RULE = "aws:cloudwatch/contributorInsightRule:ContributorInsightRule"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
CALLER_VARIABLES = {"$context.identity.userArn", "$context.identity.caller",
                    "$context.identity.accountId", "$context.identity.userAgent",
                    "$context.identity.sourceIp", "$context.routeKey"}  # fmt: skip


def deprecate_all_but_newest(config: dict[str, str], most: int | None = None) -> dict[str, str]:
    """A config whose services keep only their newest major active: the others (or the `most`
    first of them) deprecated today with the earliest sunset the window allows, their successor
    the next major."""
    window = int(config.get("mlserve:deprecationWindowDays", DEFAULT_DEPRECATION_WINDOW_DAYS))
    sunset = date.fromisoformat(TODAY) + timedelta(days=window)
    services = json.loads(config["mlserve:services"])
    for entry in services.values():
        keys = sorted(entry["versions"], key=lambda key: int(key[1:]))
        for key, successor in itertools.pairwise(keys):
            if most is not None and most <= 0:
                break
            most = None if most is None else most - 1
            deprecation = {"status": "deprecated", "deprecatedOn": TODAY,
                           "sunsetOn": sunset.isoformat(), "successor": successor}  # fmt: skip
            entry["versions"][key].update(deprecation)
    return {**config, "mlserve:services": json.dumps(services)}


@pytest.fixture(scope="module")
def runs(prod_run: ProgramRun, dev_run: ProgramRun) -> dict[str, ProgramRun]:
    """Every stack file's deployment, and a generated stack with many deprecated versions."""
    found = {"prod": prod_run, "dev": dev_run}
    for stack in stack_files():
        if stack not in found:
            found[stack] = run_program(stack_config(stack), stack=stack, today=TODAY)
    generated = deprecate_all_but_newest(generated_config(3, 4))
    found["gen"] = run_program(generated, stack="gen", today=TODAY)
    for run in found.values():
        assert run.error is None, run.error
    return found


def settings_of(stack: str, run: ProgramRun) -> Any:
    if stack == "gen":
        config = deprecate_all_but_newest(generated_config(3, 4))
        return settings_from_engine_config(config, stack="gen", project_root=PROJECT_ROOT,
                                           today=date.fromisoformat(TODAY))  # fmt: skip
    return stack_settings(stack, today=date.fromisoformat(TODAY))


STACKS = [*stack_files(), "gen"]


def access_log_group(run: ProgramRun) -> str:
    """The name of the log group the stage writes its access log to."""
    (stage,) = run.of_type(STAGE)
    destination = stage.inputs["accessLogSettings"]["destinationArn"]
    (group,) = [g for g in run.of_type(LOG_GROUP) if g.outputs.get("arn") == destination]
    return str(group.inputs["name"])


def registered_routes(run: ProgramRun) -> dict[str, set[str]]:
    """Route keys on the API by alias name (`function:alias`), through their integration."""
    integrations = {r.id: r for r in run.of_type("aws:apigatewayv2/integration:Integration")}
    aliases = {a.outputs["arn"]: a for a in run.of_type(ALIAS)}
    routes: dict[str, set[str]] = {}
    for route in run.of_type(ROUTE):
        integration = integrations[route.inputs["target"].split("/", 1)[1]]
        alias = aliases[integration.inputs["integrationUri"]]
        resource = f"{alias.inputs['functionName']}:{alias.inputs['name']}"
        routes.setdefault(resource, set()).add(route.inputs["routeKey"])
    return routes


def deprecated_resources(stack: str, run: ProgramRun) -> set[str]:
    settings = settings_of(stack, run)
    return {f"{v.function_name}:{v.alias_name}" for v in settings.deployed_versions()
            if v.status == "deprecated"}  # fmt: skip


@pytest.mark.parametrize("stack", STACKS)
def test_given_stage_when_registered_then_its_access_log_names_callers_within_the_limit(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    (stage,) = runs[stack].of_type(STAGE)
    text = stage.inputs["accessLogSettings"]["format"]
    fields = json.loads(text)
    assert set(fields.values()) >= CALLER_VARIABLES
    assert set(CALLER_KEYS) <= set(fields)
    assert len(text.encode()) <= ACCESS_LOG_FORMAT_LIMIT


@pytest.mark.parametrize("stack", STACKS)
def test_given_stack_when_registered_then_each_deprecated_version_has_its_callers_rule(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    group, routes = access_log_group(run), registered_routes(run)
    rules = run.of_type(RULE)
    expected = deprecated_resources(stack, run)
    assert len(rules) == len(expected)
    covered = set()
    for rule in rules:
        definition = json.loads(rule.inputs["ruleDefinition"])
        assert definition["LogGroupNames"] == [group]
        assert definition["LogFormat"] == "JSON"
        assert definition["Contribution"]["Keys"] == [f"$.{key}" for key in CALLER_KEYS]
        (route_filter,) = definition["Contribution"]["Filters"]
        assert route_filter["Match"] == "$.routeKey"
        (resource,) = [r for r, keys in routes.items() if keys == set(route_filter["In"])]
        covered.add(resource)
        assert rule.inputs["ruleState"] == "ENABLED"
        assert len(rule.inputs["ruleName"]) <= 128
    assert covered == expected


@pytest.mark.parametrize("stack", STACKS)
def test_given_stack_when_registered_then_deprecated_requests_are_counted_and_410s_alarm(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    group, routes = access_log_group(run), registered_routes(run)
    expected = deprecated_resources(stack, run)
    filters = run.of_type(FILTER)
    alarms = {a.inputs["name"]: a for a in run.of_type(ALARM)
              if a.inputs["name"].endswith("-called-after-sunset")}  # fmt: skip
    assert len(filters) == len(expected) == len(alarms)
    for metric_filter in filters:
        assert metric_filter.inputs["logGroupName"] == group
        keys = set(re.findall(r'\$\.routeKey = "([^"]+)"', metric_filter.inputs["pattern"]))
        (resource,) = [r for r, route_keys in routes.items() if route_keys == keys]
        assert resource in expected
        metric = metric_filter.inputs["metricTransformation"]
        assert metric["dimensions"] == {"Status": "$.status"}
        alarm = alarms[f"{resource}-called-after-sunset"]
        assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == (
            metric["namespace"],
            metric["name"],
        )
        assert alarm.inputs["dimensions"] == {"Status": "410"}
        assert alarm.inputs["threshold"] == 1
        assert alarm.inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"


@pytest.mark.parametrize("stack", STACKS)
def test_given_stack_when_registered_then_the_dashboard_shows_every_deployed_version(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    (api,) = run.of_type(API)
    dashboards = run.of_type(DASHBOARD)
    bodies = [json.loads(d.inputs["dashboardBody"]) for d in dashboards]
    widgets = [w for body in bodies for w in body["widgets"]]
    assert all(len(body["widgets"]) <= DASHBOARD_WIDGETS_LIMIT for body in bodies)
    shown = {_alias_shown(w) for w in widgets} - {None}
    assert shown == set(registered_routes(run))
    rules = {r.inputs["ruleName"] for r in run.of_type(RULE)}
    assert {w["properties"]["insightRule"]["ruleName"] for w in widgets
            if "insightRule" in w["properties"]} == rules  # fmt: skip
    stages = {tuple(m[2:6]) for w in widgets for m in w["properties"].get("metrics", [])
              if isinstance(m[0], str) and m[0] == "AWS/ApiGateway"}  # fmt: skip
    assert stages == {("ApiId", api.id, "Stage", "$default")}
    for widget in widgets:
        assert widget["x"] + widget["width"] <= 24
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == "us-east-1"


def _alias_shown(widget: dict[str, Any]) -> str | None:
    """The alias (`function:alias`) whose Lambda metrics a widget plots, if any."""
    for metric in widget["properties"].get("metrics", []):
        if metric[0] == "AWS/Lambda":
            names = dict(zip(metric[2::2], metric[3::2], strict=False))
            return names.get("Resource")
    return None


def test_given_more_versions_than_a_dashboard_holds_when_registered_then_they_split() -> None:
    # GIVEN a generated stack whose widgets pass one dashboard's limit (its routes within a
    # raised route quota, its integrations within the fixed one)
    config = {**deprecate_all_but_newest(generated_config(10, 30), most=100),
              "mlserve:api": json.dumps({"routeQuota": 1000})}  # fmt: skip
    settings = settings_from_engine_config(config, stack="gen", project_root=PROJECT_ROOT,
                                           today=date.fromisoformat(TODAY))  # fmt: skip
    deprecated = sum(v.status == "deprecated" for v in settings.deployed_versions())
    assert 2 + len(settings.deployed_versions()) + 2 * deprecated > DASHBOARD_WIDGETS_LIMIT
    # WHEN the program registers it
    run = run_program(config, stack="gen", today=TODAY)
    assert run.error is None, run.error
    # THEN the versions are spread over dashboards within the limit, each once
    dashboards: list[Registration] = run.of_type(DASHBOARD)
    assert len(dashboards) > 1
    names = [d.inputs["dashboardName"] for d in dashboards]
    assert len(set(names)) == len(names)
    shown = [
        alias
        for d in dashboards
        for w in json.loads(d.inputs["dashboardBody"])["widgets"]
        if (alias := _alias_shown(w)) is not None
    ]
    assert sorted(shown) == sorted(
        f"{v.function_name}:{v.alias_name}" for v in settings.deployed_versions()
    )
    assert sorted(run.outputs["dashboards"]) == sorted(names)


def test_given_more_deprecated_versions_than_filters_when_validated_then_config_error() -> None:
    # GIVEN more deprecated versions than the access log's metric filter quota
    config = {**deprecate_all_but_newest(generated_config(11, 11)),
              "mlserve:api": json.dumps({"routeQuota": 1000})}  # fmt: skip
    # WHEN validated, THEN the config is refused before anything registers, saying what to do
    with pytest.raises(ConfigError, match=r"110 versions are deprecated; .* at most 100 .* Retire"):
        settings_from_engine_config(config, stack="gen", project_root=PROJECT_ROOT,
                                    today=date.fromisoformat(TODAY))  # fmt: skip


@pytest.mark.parametrize("per_service", [False, True])
@pytest.mark.parametrize("routes", [1, 8, 9, 40])
def test_given_many_routes_when_matched_then_rule_and_filter_stay_within_aws_limits(
    routes: int, per_service: bool
) -> None:
    # GIVEN a deprecated version with `routes` routes of its own besides health and metadata,
    # on the stack's single API or on its service's own
    version: Any = SimpleNamespace(
        service="churn", key="v1", base_path="/churn/v1",
        all_routes=[SimpleNamespace(key=f"POST /route-{n:03d}-{'x' * 40}") for n in range(routes)]
        + [SimpleNamespace(key="GET /health"), SimpleNamespace(key="GET /metadata")],
        owner=SimpleNamespace(stack=SimpleNamespace(api=SimpleNamespace(per_service=per_service))),
    )  # fmt: skip
    keys = [f"{r.key.split(' ')[0]} /churn/v1{r.key.split(' ')[1]}" for r in version.all_routes]
    version.route_keys = keys  # as VersionSettings.route_keys gives them
    version.api_route_keys = [api_route_key(key, per_service) for key in keys]
    # WHEN its callers rule and request filter are made
    rule_filter, *service_filter = callers_rule("/aws/apigateway/x", version)["Contribution"][
        "Filters"
    ]
    pattern = requests_pattern(version)
    # THEN each names exactly its route keys as the API logs them when they fit, else its base
    # paths, and on a service's own API only that service's lines
    paths = ["/churn/v1", "/v1"] if per_service else ["/churn/v1"]
    if len(keys) <= RULE_FILTER_VALUES:
        assert rule_filter == {"Match": "$.routeKey", "In": version.api_route_keys}
    else:
        assert rule_filter == {"Match": "$.path", "StartsWith": [f"{p}/" for p in paths]}
    assert service_filter == ([{"Match": "$.service", "In": ["churn"]}] if per_service else [])
    assert len(pattern) <= PATTERN_LIMIT
    named = re.findall(r'\$\.routeKey = "([^"]+)"', pattern)
    logged = re.findall(r'\$\.path = "([^"]+)/\*"', pattern)
    assert (named, logged) in ((version.api_route_keys, []), ([], paths)), pattern
    assert ('$.service = "churn"' in pattern) is per_service


@pytest.mark.parametrize("per_service", [False, True])
@pytest.mark.parametrize("deprecated_every", [2, 3, 1000])
def test_given_many_versions_when_paged_then_every_dashboard_holds_at_most_the_limit(
    deprecated_every: int, per_service: bool
) -> None:
    # GIVEN 1,200 versions of 400 services, some deprecated (each costs 3 widgets, others 1;
    # every page has its header, and the single API's widget or one per service on the page)
    versions = [SimpleNamespace(status="deprecated" if n % deprecated_every == 0 else "active",
                                service=f"s{n // 3}") for n in range(1200)]  # fmt: skip
    settings: Any = SimpleNamespace(
        deployed_versions=lambda: versions, api=SimpleNamespace(per_service=per_service)
    )
    # WHEN split into dashboards
    pages = dashboard_pages(settings)
    # THEN each stays within CloudWatch's widgets per dashboard, and all versions appear once
    for page in pages:
        apis = len({v.service for v in page}) if per_service else 1
        widgets = 1 + apis + sum(3 if v.status == "deprecated" else 1 for v in page)
        assert widgets <= DASHBOARD_WIDGETS_LIMIT
    assert [v for page in pages for v in page] == versions
