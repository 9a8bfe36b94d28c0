"""Who calls which version: per deprecated version a Contributor Insights rule over the access log
(top callers), a metric filter counting its requests by status and an alarm on its 410 answers
(someone is called after the sunset, and broken); per stack a dashboard of every version.

Where the per-version numbers come from, and why: the runtime's EMF metric (`Requests` by
service, version, lifecycle and outcome, one line per request) for requests and 4xx/5xx, and the
alias's own Lambda metrics (free) for errors, throttles and p99 duration. The access log's metric
filters are kept for deprecated versions, because a log group holds at most 100 filters and a
stack may have hundreds of versions; the stage's detailed route metrics are not used, because
they bill six custom metrics per route on every version (see the README's cost note).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.settings import Settings, VersionSettings
from mlserve_runtime.conventions import (
    ACCESS_LOG_SERVICE,
    CALLER_KEYS,
    METRIC_DIMENSIONS,
    METRIC_REQUESTS,
    metrics_namespace,
    sunset_moment,
)

DASHBOARD_WIDGETS_LIMIT = 500  # widgets of one CloudWatch dashboard
RULE_FILTER_VALUES = 10  # strings in a Contributor Insights filter's In or StartsWith
PATTERN_LIMIT = 1024  # characters of a metric filter pattern
ALARM_PERIOD_SECONDS = 300
WIDTH, HEIGHT = 12, 6  # a dashboard row is 24 units wide


def access_namespace(settings: Settings) -> str:
    """The namespace of the metrics the access log's filters publish."""
    return f"{metrics_namespace(settings.name_prefix, settings.environment)}/access-log"


def access_metric(version: VersionSettings) -> str:
    """The metric counting a deprecated version's requests (dimension Status), e.g. `churn/v1`."""
    return f"{version.service}/{version.key}"


def alias_resource(version: VersionSettings) -> str:
    """The alias as Lambda's metrics name it (dimension Resource), e.g. `churn_v1:prod_v1`."""
    return f"{version.function_name}:{version.alias_name}"


def callers_rule_name(resource: str) -> str:
    """The Contributor Insights rule of a deprecated alias's callers."""
    return f"{resource.replace(':', '-')}-callers"


def sunset_alarm_name(resource: str) -> str:
    """The alarm on a deprecated alias's answers after its sunset."""
    return f"{resource}-called-after-sunset"


def logged_paths(version: VersionSettings) -> list[str]:
    """The base paths a version's requests are logged under: the public one, and on a service's
    own API also the one the API sees behind the domain's mapping (and on its execute-api URL)."""
    paths = [version.base_path]
    if version.owner.stack.api.per_service:
        paths.append(f"/{version.key}")
    return paths


def callers_rule(log_group: str, version: VersionSettings) -> dict[str, Any]:
    """Top callers of a version's routes: the signed principal and the user agent together (an
    unsigned call has `-` as its principal, so its user agent tells callers apart). A version
    with more route keys than a filter holds is matched by its base path instead; on a
    service's own API only that service's lines count (their literal `service`)."""
    keys = version.api_route_keys
    routes = (
        {"Match": "$.routeKey", "In": keys}
        if len(keys) <= RULE_FILTER_VALUES
        else {"Match": "$.path", "StartsWith": [f"{path}/" for path in logged_paths(version)]}
    )
    filters = [routes]
    if version.owner.stack.api.per_service:
        filters.append({"Match": f"$.{ACCESS_LOG_SERVICE}", "In": [version.service]})
    return {
        "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
        "LogGroupNames": [log_group],
        "LogFormat": "JSON",
        "Contribution": {"Keys": [f"$.{key}" for key in CALLER_KEYS], "Filters": filters},
        "AggregateOn": "Count",
    }


def requests_pattern(version: VersionSettings) -> str:
    """The metric filter pattern matching the access-log lines of a version's routes (of its
    base path when the routes would not fit a pattern), of its service's lines only on a
    service's own API."""

    def pattern(terms: list[str]) -> str:
        either = " || ".join(terms)
        if not version.owner.stack.api.per_service:
            return f"{{ {either} }}"
        return f'{{ $.{ACCESS_LOG_SERVICE} = "{version.service}" && ({either}) }}'

    routes = pattern([f'$.routeKey = "{key}"' for key in version.api_route_keys])
    if len(routes) <= PATTERN_LIMIT:
        return routes
    return pattern([f'$.path = "{path}/*"' for path in logged_paths(version)])


@dataclass(frozen=True)
class StackTelemetryArgs:
    """Inputs of a StackTelemetry."""

    settings: Settings
    access_log_group: aws.cloudwatch.LogGroup
    api_ids: dict[str, pulumi.Output[str]]
    """The id of the API that serves each deployed service."""


class StackTelemetry(pulumi.ComponentResource):
    """The callers of every deprecated version, and a dashboard of every deployed one."""

    sunset_alarms: dict[tuple[str, str], aws.cloudwatch.MetricAlarm]
    """The after-sunset alarm of each deprecated version."""
    dashboards: list[aws.cloudwatch.Dashboard]

    def __init__(
        self, name: str, args: StackTelemetryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:telemetry:StackTelemetry", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        tags = {"mlserve:environment": settings.environment}
        log_group = args.access_log_group.name
        self.sunset_alarms = {}
        for version in settings.deployed_versions():
            if version.status != "deprecated":
                continue
            aws.cloudwatch.ContributorInsightRule(
                f"{version.logical_name}-callers",
                rule_name=callers_rule_name(alias_resource(version)),
                rule_state="ENABLED",
                rule_definition=log_group.apply(functools.partial(_rule_text, version=version)),
                tags=tags,
                opts=child,
            )
            aws.cloudwatch.LogMetricFilter(
                f"{version.logical_name}-requests",
                name=f"{version.function_name}-{version.alias_name}-requests",
                log_group_name=log_group,
                pattern=requests_pattern(version),
                metric_transformation={
                    "name": access_metric(version),
                    "namespace": access_namespace(settings),
                    "value": "1",
                    "unit": "Count",
                    "dimensions": {"Status": "$.status"},
                },
                opts=child,
            )
            self.sunset_alarms[(version.service, version.key)] = aws.cloudwatch.MetricAlarm(
                f"{version.logical_name}-called-after-sunset",
                name=sunset_alarm_name(alias_resource(version)),
                alarm_description=(
                    f"{version.service} {version.key} answered 410 Gone: a caller still uses it "
                    f"after its sunset on {version.sunset_on}; `python -m mlserve usage --stack "
                    f"{settings.stack}` names the callers"
                ),
                namespace=access_namespace(settings),
                metric_name=access_metric(version),
                dimensions={"Status": "410"},
                statistic="Sum",
                period=ALARM_PERIOD_SECONDS,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                tags=tags,
                opts=child,
            )
        region: pulumi.Input[str] = (
            settings.region or aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        )
        pages = dashboard_pages(settings)
        self.dashboards = [
            aws.cloudwatch.Dashboard(
                _page(f"{name}-dashboard", index),
                dashboard_name=_page(settings.api.name, index),
                dashboard_body=pulumi.Output.all(region, args.api_ids).apply(
                    functools.partial(_dashboard_text, settings, page)
                ),
                opts=child,
            )
            for index, page in enumerate(pages)
        ]
        self.register_outputs({"dashboards": [d.dashboard_name for d in self.dashboards]})


def _rule_text(log_group: str, version: VersionSettings) -> str:
    return json.dumps(callers_rule(log_group, version))


def _dashboard_text(settings: Settings, page: list[VersionSettings], values: list[Any]) -> str:
    region, api_ids = values
    return json.dumps(dashboard(settings, page, region, api_ids))


def _page(name: str, index: int) -> str:
    """The first dashboard has the stack's name, the next ones a number after it."""
    return name if index == 0 else f"{name}-{index + 1}"


def dashboard_pages(settings: Settings) -> list[list[VersionSettings]]:
    """The deployed versions split into dashboards of at most DASHBOARD_WIDGETS_LIMIT widgets
    (the header and the API, then one widget per version and two more per deprecated one; on
    per-service APIs one API widget per service on the page instead of the stack's)."""
    per_service = settings.api.per_service
    header = 1 if per_service else 2  # the header, and the single API's widget
    pages: list[list[VersionSettings]] = [[]]
    used, shown = header, set[str]()  # widgets on the page, services whose API widget it has
    for version in settings.deployed_versions():
        cost = 3 if version.status == "deprecated" else 1
        if used + cost + int(per_service and version.service not in shown) > (
            DASHBOARD_WIDGETS_LIMIT
        ):
            pages.append([])
            used, shown = header, set[str]()
        if per_service and version.service not in shown:
            shown.add(version.service)
            cost += 1  # the service's API widget, before its first version on the page
        pages[-1].append(version)
        used += cost
    return pages


def dashboard(
    settings: Settings, versions: list[VersionSettings], region: str, api_ids: dict[str, str]
) -> dict[str, Any]:
    """A dashboard body: the API's totals (each service's API's, before its first version, on
    per-service APIs), then per version its requests by outcome (4xx and 5xx among them), the
    alias's errors, throttles and p99 duration, and for a deprecated version its top callers and
    the days left to its sunset."""
    namespace = metrics_namespace(settings.name_prefix, settings.environment)

    def stage(service: str) -> list[str]:
        return ["ApiId", api_ids[service], "Stage", "$default"]

    def api_widget(title: str, service: str, width: int) -> dict[str, Any]:
        return _metrics(
            f"{title}: requests, 4xx, 5xx, p99 latency",
            region,
            [
                ["AWS/ApiGateway", "Count", *stage(service), {"stat": "Sum"}],
                ["AWS/ApiGateway", "4xx", *stage(service), {"stat": "Sum"}],
                ["AWS/ApiGateway", "5xx", *stage(service), {"stat": "Sum"}],
                ["AWS/ApiGateway", "Latency", *stage(service), {"stat": "p99", "yAxis": "right"}],
            ],
            width=width,
        )

    widgets: list[dict[str, Any]] = [
        _text(
            f"# {settings.api.name}\nVersions of stack `{settings.stack}`: requests by outcome "
            f"(namespace `{namespace}`), the alias's Lambda metrics, and for deprecated versions "
            "their callers and days to sunset. Generated by the program; edits are overwritten.",
            width=24,
            height=2,
        ),
    ]
    if not settings.api.per_service and versions:
        widgets.append(api_widget("API", versions[0].service, width=24))
    shown: set[str] = set()
    for version in versions:
        if settings.api.per_service and version.service not in shown:
            shown.add(version.service)
            widgets.append(api_widget(f"{version.service} API", version.service, width=WIDTH))
        alias = ["FunctionName", version.function_name, "Resource", alias_resource(version)]
        search = " ".join(
            [f"{{{namespace},{','.join(METRIC_DIMENSIONS)}}}", f"MetricName=\"{METRIC_REQUESTS}\"",
             f'service="{version.service}"', f'version="{version.key}"']
        )  # fmt: skip
        widgets.append(
            _metrics(
                f"{version.service} {version.key} ({version.status}): requests by outcome, "
                "alias errors, throttles, p99 duration",
                region,
                [
                    [
                        {
                            "expression": f"SEARCH('{search}', 'Sum', 300)",
                            "id": "outcomes",
                            "label": "${PROP('Dim.outcome')}",
                        }
                    ],
                    ["AWS/Lambda", "Errors", *alias, {"stat": "Sum"}],
                    ["AWS/Lambda", "Throttles", *alias, {"stat": "Sum"}],
                    ["AWS/Lambda", "Duration", *alias, {"stat": "p99", "yAxis": "right"}],
                ],
            )
        )
        if version.status == "deprecated" and version.sunset_on is not None:
            widgets += _callers(version, region, stage(version.service))
    return {"widgets": _placed(widgets)}


def _callers(version: VersionSettings, region: str, stage: list[str]) -> list[dict[str, Any]]:
    """Top callers (the version's Contributor Insights rule), and the days left to its sunset,
    counted from the time of each data point (metric math EPOCH) of the API's request count."""
    assert version.sunset_on is not None
    days = f"({sunset_moment(version.sunset_on)} - EPOCH(api)) / 86400"
    title = f"{version.service} {version.key}"
    return [
        {
            "type": "metric",
            "width": WIDTH,
            "properties": {
                "title": f"{title}: top callers (principal, user agent)",
                "region": region,
                "view": "timeSeries",
                "stacked": False,
                "period": 300,
                "insightRule": {
                    "maxContributorCount": 10,
                    "orderBy": "Sum",
                    "ruleName": callers_rule_name(alias_resource(version)),
                },
            },
        },
        {
            "type": "metric",
            "width": WIDTH,
            "properties": {
                "title": f"{title}: days to its sunset on {version.sunset_on}",
                "region": region,
                "view": "singleValue",
                "period": 300,
                "metrics": [
                    ["AWS/ApiGateway", "Count", *stage, {"id": "api", "visible": False}],
                    [{"expression": days, "label": "days to sunset", "id": "days"}],
                ],
            },
        },
    ]


def _metrics(title: str, region: str, metrics: list[Any], width: int = WIDTH) -> dict[str, Any]:
    return {
        "type": "metric",
        "width": width,
        "properties": {"title": title, "region": region, "view": "timeSeries", "stacked": False,
                       "period": 300, "metrics": metrics},
    }  # fmt: skip


def _text(markdown: str, width: int, height: int) -> dict[str, Any]:
    return {"type": "text", "width": width, "height": height, "properties": {"markdown": markdown}}


def _placed(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Widgets laid out left to right, top to bottom, on the dashboard's 24-unit grid."""
    x = y = row = 0
    placed = []
    for widget in widgets:
        width = widget.get("width", WIDTH)
        height = widget.get("height", HEIGHT)
        if x + width > 24:
            x, y = 0, y + row
            row = 0
        placed.append({**widget, "x": x, "y": y, "width": width, "height": height})
        x += width
        row = max(row, height)
    return placed
