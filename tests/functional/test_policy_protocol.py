"""The policy pack over its gRPC protocol, started exactly as the engine starts it, fed hand-built
resources: each of the rules 1-7 is shown to block, and a correct set of resources passes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2

from mlserve.analyzer import (
    PACK_DIR,
    UNKNOWN,
    PolicyPackError,
    RunningPack,
    Violation,
    running_pack,
    to_struct,
)
from mlserve.ledger import policy_config
from mlserve_runtime.conventions import ACCESS_LOG_FORMAT

SERVICES = {
    "churn": {
        "versions": {
            "v1": {"code": "services/churn/v1", "status": "deprecated",
                   "deprecatedOn": "2026-09-01", "sunsetOn": "2027-06-30", "successor": "v2"},
            "v2": {"code": "services/churn/v2", "status": "active"},
        }
    }
}  # fmt: skip
CONFIG = {
    "aws:region": "us-east-1",
    "mlserve:environment": "prod",
    "mlserve:namePrefix": "p-",
    "mlserve:services": json.dumps(SERVICES),
}
EXPECTED_POLICIES = {
    "mlserve-config-readable": ("mandatory", "resource"),
    "lambda-function-name-matches-version": ("mandatory", "resource"),
    "lambda-alias-name-matches-version": ("mandatory", "resource"),
    "lambda-alias-serves-published-version": ("mandatory", "resource"),
    "lambda-code-is-its-version": ("mandatory", "resource"),
    "api-routes-invoke-own-version": ("mandatory", "stack"),
    "lambda-permissions-scoped": ("mandatory", "resource"),
    "no-wildcard-principals": ("mandatory", "resource"),
    "queue-grants-scoped": ("mandatory", "resource"),
    "queues-feed-their-own-alias": ("mandatory", "stack"),
    "lambda-version-tags-required": ("mandatory", "resource"),
    "active-versions-protected": ("mandatory", "resource"),
    "deprecated-versions-announce-sunset": ("mandatory", "stack"),
    "no-removal-of-non-deprecated-versions": ("mandatory", "stack"),
    "deprecations-keep-their-promises": ("mandatory", "stack"),
    "versions-keep-their-surface": ("mandatory", "stack"),
    "pinned-versions-exist": ("mandatory", "stack"),
    "rollouts-shift-safely": ("mandatory", "stack"),
    "releases-promoted-from-tested-stack": ("mandatory", "stack"),
    "api-grants-name-own-routes": ("mandatory", "stack"),
    "ledger-format-current": ("advisory", "stack"),
    "lambda-tracing-active": ("advisory", "resource"),
    "log-groups-retention-set": ("advisory", "resource"),
    "api-stage-access-logging": ("advisory", "resource"),
}
LEDGER = {
    "ledgerVersion": 2, "stack": "prod", "environment": "prod", "namePrefix": "p-",
    "deprecationWindowDays": 180,
    "versions": {"churn": {"v1": {"status": "deprecated", "deprecatedOn": "2026-09-01",
                                  "sunsetOn": "2027-06-30"},
                           "v2": {"status": "active"}}},
}  # fmt: skip
POLICY_CONFIG = policy_config(LEDGER, today="2026-11-27")
NEW_STACK = policy_config(None, today="2026-11-27")
STACK_URN = "urn:pulumi:prod::mlserve::pulumi:pulumi:Stack::mlserve-prod"
EXECUTION_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function"


@pytest.fixture(scope="module")
def pack() -> Iterator[RunningPack]:
    """One pack for the module, started for a prod-like stack with name prefix `p-`."""
    with running_pack(CONFIG, stack="prod") as started:
        yield started


@pytest.fixture(autouse=True)
def ledger_config(pack: RunningPack) -> None:
    """Every test starts from the same policy config (a test may Configure another)."""
    pack.configure(POLICY_CONFIG)


def message(
    resource_type: str,
    name: str,
    props: Mapping[str, Any],
    *,
    protect: bool = False,
    links: Mapping[str, analyzer_pb2.AnalyzerResource] | None = None,
) -> analyzer_pb2.AnalyzerResource:
    """A resource as the engine sends it, its properties computed from `links` (by property)."""
    resource = analyzer_pb2.AnalyzerResource(
        type=resource_type,
        urn=f"urn:pulumi:prod::mlserve::{resource_type}::{name}",
        name=name,
        properties=to_struct(props),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=protect),
        parent=STACK_URN,
    )
    for prop, target in (links or {}).items():
        resource.dependencies.append(target.urn)
        resource.propertyDependencies[prop].urns.append(target.urn)
    return resource


def function_props(version: str, lifecycle: str, **changes: Any) -> dict[str, Any]:
    """A version function of churn as VersionedFunction makes it."""
    variables = {"MLSERVE_SERVICE": "churn", "MLSERVE_VERSION": version,
                 "MLSERVE_LIFECYCLE": lifecycle}  # fmt: skip
    if lifecycle == "deprecated":
        variables |= {"MLSERVE_DEPRECATED_ON": "2026-09-01", "MLSERVE_SUNSET_ON": "2027-06-30",
                      "MLSERVE_SUCCESSOR_PATH": "/churn/v2"}  # fmt: skip
    props = {
        "name": f"p-churn_{version}",
        "publish": True,
        "version": "7",
        "tracingConfig": {"mode": "Active"},
        "environment": {"variables": variables},
        "tags": {"mlserve:service": "churn", "mlserve:api-version": version,
                 "mlserve:lifecycle": lifecycle, "mlserve:environment": "prod"},
    }  # fmt: skip
    props.update(changes)
    return props


def good_stack() -> dict[str, analyzer_pb2.AnalyzerResource]:
    """Both churn versions wired correctly: functions, aliases, integrations, routes, grants."""
    resources: dict[str, analyzer_pb2.AnalyzerResource] = {
        "stack": analyzer_pb2.AnalyzerResource(
            type="pulumi:pulumi:Stack",
            urn=STACK_URN,
            name="mlserve-prod",
            properties=to_struct({}),
            options=analyzer_pb2.AnalyzerResourceOptions(),
        ),
        "api": message("aws:apigatewayv2/api:Api", "api", {"executionArn": EXECUTION_ARN}),
        "logs": message("aws:cloudwatch/logGroup:LogGroup", "logs", {"retentionInDays": 90}),
    }
    resources["stage"] = message(
        "aws:apigatewayv2/stage:Stage", "stage",
        {"accessLogSettings": {"destinationArn": "arn:aws:logs:x",
                               "format": json.dumps(ACCESS_LOG_FORMAT)}},
        links={"accessLogSettings": resources["logs"]},
    )  # fmt: skip
    for version, lifecycle in (("v1", "deprecated"), ("v2", "active")):
        active = lifecycle == "active"
        function = message(
            "aws:lambda/function:Function", f"churn-{version}",
            function_props(version, lifecycle, arn=f"{LAMBDA_ARN}:p-churn_{version}"),
            protect=active,
        )  # fmt: skip
        alias = message(
            "aws:lambda/alias:Alias", f"churn-{version}-alias",
            {"name": f"prod_{version}", "functionName": f"p-churn_{version}",
             "functionVersion": "7", "arn": f"{LAMBDA_ARN}:p-churn_{version}:prod_{version}"},
            protect=active, links={"functionName": function},
        )  # fmt: skip
        integration = message(
            "aws:apigatewayv2/integration:Integration", f"churn-{version}-integration",
            {"integrationUri": f"{LAMBDA_ARN}:p-churn_{version}:prod_{version}"},
            links={"integrationUri": alias},
        )  # fmt: skip
        route = message(
            "aws:apigatewayv2/route:Route", f"churn-{version}-post-predict",
            {"routeKey": f"POST /churn/{version}/predict", "target": "integrations/x"},
            links={"target": integration},
        )  # fmt: skip
        permission = message(
            "aws:lambda/permission:Permission", f"churn-{version}-post-predict-invoke",
            {"function": f"p-churn_{version}", "principal": "apigateway.amazonaws.com",
             "qualifier": f"prod_{version}",
             "sourceArn": f"{EXECUTION_ARN}/*/POST/churn/{version}/predict"},
        )  # fmt: skip
        for kind, resource in (("function", function), ("alias", alias),
                               ("integration", integration), ("route", route),
                               ("permission", permission)):  # fmt: skip
            resources[f"{kind}-{version}"] = resource
    return resources


def analyze_all(pack: RunningPack, resources: Mapping[str, Any]) -> list[Violation]:
    """What the engine collects: Analyze per resource, then AnalyzeStack over all of them."""
    found = [violation for resource in resources.values() for violation in pack.analyze(resource)]
    return found + pack.analyze_stack(list(resources.values()))


def mandatory(violations: list[Violation]) -> dict[str, list[str]]:
    """Mandatory violations by policy."""
    by_policy: dict[str, list[str]] = {}
    for violation in violations:
        if violation.mandatory:
            by_policy.setdefault(violation.policy_name, []).append(violation.message)
    return by_policy


def test_given_pack_when_engine_asks_for_info_then_every_policy_and_level_is_listed(
    pack: RunningPack,
) -> None:
    listed = {policy.name: (policy.enforcement_level, policy.kind) for policy in pack.policies}
    assert listed == EXPECTED_POLICIES
    assert all(policy.description and policy.remediation_steps for policy in pack.policies)
    assert all(policy.description.startswith(("Requires", "Prohibits")) for policy in pack.policies)
    removal = next(p for p in pack.policies if p.name == "no-removal-of-non-deprecated-versions")
    assert {"ledger", "today", "newStack"} <= set(removal.config_schema)


def test_given_handshake_when_sent_then_pulumi_policy_answers_unimplemented(
    pack: RunningPack,
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        pack.stub.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(engine_address="x"))
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_given_correct_stack_when_analyzed_then_no_violation_at_all(pack: RunningPack) -> None:
    assert analyze_all(pack, good_stack()) == []


def break_function_name(resources: dict[str, Any]) -> None:
    props = function_props("v2", "active")
    props["tags"]["mlserve:api-version"] = "v3"  # the name says v2
    resources["function-v2"] = message(
        "aws:lambda/function:Function", "churn-v2", props, protect=True
    )


def break_alias_name(resources: dict[str, Any]) -> None:
    resources["alias-v2"] = message(
        "aws:lambda/alias:Alias", "churn-v2-alias",
        {"name": "prod_v1", "functionName": "p-churn_v2", "functionVersion": "7"},
        protect=True, links={"functionName": resources["function-v2"]},
    )  # fmt: skip


def break_alias_latest(resources: dict[str, Any]) -> None:
    resources["alias-v2"] = message(
        "aws:lambda/alias:Alias", "churn-v2-alias",
        {"name": "prod_v2", "functionName": "p-churn_v2", "functionVersion": "$LATEST"},
        protect=True, links={"functionName": resources["function-v2"]},
    )  # fmt: skip


def break_route(resources: dict[str, Any]) -> None:
    resources["route-v2"] = message(
        "aws:apigatewayv2/route:Route", "churn-v2-post-predict",
        {"routeKey": "POST /churn/v2/predict", "target": "integrations/x"},
        links={"target": resources["integration-v1"]},
    )  # fmt: skip


def break_permission(resources: dict[str, Any]) -> None:
    resources["permission-v2"] = message(
        "aws:lambda/permission:Permission", "churn-v2-post-predict-invoke",
        {"function": "p-churn_v2", "principal": "apigateway.amazonaws.com",
         "sourceArn": f"{EXECUTION_ARN}/*"},
    )  # fmt: skip


def break_principal(resources: dict[str, Any]) -> None:
    resources["permission-v2"] = message(
        "aws:lambda/permission:Permission", "churn-v2-post-predict-invoke",
        {"function": "p-churn_v2", "principal": "*", "qualifier": "prod_v2"},
    )  # fmt: skip


def break_tags(resources: dict[str, Any]) -> None:
    props = function_props("v2", "active")
    del props["tags"]["mlserve:lifecycle"]
    resources["function-v2"] = message(
        "aws:lambda/function:Function", "churn-v2", props, protect=True
    )


def break_protection(resources: dict[str, Any]) -> None:
    resources["function-v2"] = message(
        "aws:lambda/function:Function", "churn-v2", function_props("v2", "active")
    )


@pytest.mark.parametrize(
    ("rule", "breaks", "expected"),
    [
        ("1 function name", break_function_name, {"lambda-function-name-matches-version"}),
        ("2 alias name", break_alias_name, {"lambda-alias-name-matches-version",
                                            "api-routes-invoke-own-version",
                                            "no-removal-of-non-deprecated-versions"}),
        ("3 no $LATEST", break_alias_latest, {"lambda-alias-serves-published-version"}),
        ("4 route", break_route, {"api-routes-invoke-own-version"}),
        ("5 scoped grant", break_permission, {"lambda-permissions-scoped",
                                              "api-grants-name-own-routes"}),
        ("5 no wildcard", break_principal, {"no-wildcard-principals"}),
        ("6 tags", break_tags, {"lambda-version-tags-required"}),
        ("7 protect", break_protection, {"active-versions-protected"}),
    ],
)  # fmt: skip
def test_given_stack_breaking_one_rule_when_analyzed_then_that_policy_blocks(
    pack: RunningPack, rule: str, breaks: Any, expected: set[str]
) -> None:
    # GIVEN the correct stack with one resource changed to break rule `rule`
    resources = good_stack()
    breaks(resources)
    # WHEN the engine analyzes it THEN exactly the expected policies report mandatory violations
    assert set(mandatory(analyze_all(pack, resources))) == expected, rule


def test_given_function_renamed_off_the_rule_when_analyzed_then_blocked_everywhere_it_matters(
    pack: RunningPack,
) -> None:
    # GIVEN churn v2's function renamed without the prefix: to the engine, a new function
    resources = good_stack()
    resources["function-v2"] = message(
        "aws:lambda/function:Function", "churn-v2",
        function_props("v2", "active", name="churn_v2"), protect=True,
    )  # fmt: skip
    # WHEN analyzed THEN the name rule blocks, and so do the rules that lose track of v2
    assert set(mandatory(analyze_all(pack, resources))) == {
        "lambda-function-name-matches-version",
        "api-routes-invoke-own-version",
        "deprecated-versions-announce-sunset",
        "no-removal-of-non-deprecated-versions",
    }


def test_given_violation_when_reported_then_it_names_resource_and_fix(pack: RunningPack) -> None:
    resources = good_stack()
    break_route(resources)
    (violation,) = [v for v in analyze_all(pack, resources) if v.mandatory]
    assert violation.urn == resources["route-v2"].urn
    assert "it must invoke alias prod_v2 of p-churn_v2 (churn v2)" in violation.message
    assert violation.message.startswith("Requires every API route")  # description, then detail


def test_given_deprecated_version_losing_its_successor_when_analyzed_then_blocked(
    pack: RunningPack,
) -> None:
    # GIVEN churn v1 deprecated in favour of v2, and v2's function gone (the ledger allows
    # nothing to go, so judge it as a new stack here)
    resources = {key: value for key, value in good_stack().items() if not key.endswith("-v2")}
    pack.configure(NEW_STACK)
    found = mandatory(analyze_all(pack, resources))
    assert set(found) == {"deprecated-versions-announce-sunset"}
    assert (
        "its successor churn v2 is not deployed" in found["deprecated-versions-announce-sunset"][0]
    )


def test_given_unknown_values_when_previewed_then_only_cant_run_advisories(
    pack: RunningPack,
) -> None:
    # GIVEN the preview of a first deployment: versions and the execution ARN not known yet
    resources = good_stack()
    for version in ("v1", "v2"):
        alias, grant = resources[f"alias-{version}"], resources[f"permission-{version}"]
        alias.properties["functionVersion"] = UNKNOWN
        grant.properties["sourceArn"] = UNKNOWN
        resources[f"integration-{version}"].properties["integrationUri"] = UNKNOWN
    # WHEN analyzed THEN nothing blocks, and what could not run says so
    violations = analyze_all(pack, resources)
    assert mandatory(violations) == {}
    assert violations and all(
        v.enforcement_level == "advisory" and v.message.startswith("can't run policy")
        for v in violations
    )
    assert {v.policy_name for v in violations} == {
        "lambda-alias-serves-published-version", "lambda-permissions-scoped",
        "api-routes-invoke-own-version", "api-grants-name-own-routes",
    }  # fmt: skip


def test_given_odd_property_types_when_analyzed_then_violations_not_crashes(
    pack: RunningPack,
) -> None:
    # GIVEN resources whose properties have types no provider would send
    odd = {
        "function": message("aws:lambda/function:Function", "odd", {"name": 7, "tags": ["x"]}),
        "alias": message(
            "aws:lambda/alias:Alias", "odd-alias", {"name": None, "routingConfig": "weights"}
        ),
        "permission": message(
            "aws:lambda/permission:Permission",
            "odd-grant",
            {"principal": {"AWS": "*"}, "qualifier": 3},
        ),
        "route": message("aws:apigatewayv2/route:Route", "odd-route", {"routeKey": ["GET"]}),
    }
    # WHEN analyzed THEN the pack answers every call and blocks instead of passing
    found = mandatory(analyze_all(pack, odd))
    assert {"lambda-function-name-matches-version", "lambda-version-tags-required",
            "lambda-alias-serves-published-version", "lambda-permissions-scoped",
            "api-routes-invoke-own-version"} <= set(found)  # fmt: skip
    assert pack.process.poll() is None


def test_given_stock_decoding_when_same_requests_then_same_diagnostics(pack: RunningPack) -> None:
    # GIVEN a stack with several violations and unknowns, and a pack on pulumi-policy's servicer
    resources = good_stack()
    for breaks in (break_route, break_tags, break_permission):
        breaks(resources)
    resources["alias-v1"].properties["functionVersion"] = UNKNOWN
    with running_pack(
        CONFIG, stack="prod", extra_env={"MLSERVE_POLICY_STOCK_DECODING": "1"}
    ) as stock:
        stock.configure(POLICY_CONFIG)
        # WHEN both analyze the same requests THEN they say exactly the same
        assert analyze_all(stock, resources) == analyze_all(pack, resources)


def test_given_broken_config_when_pack_starts_then_config_policy_blocks() -> None:
    # GIVEN a stack whose mlserve:services is not valid JSON
    with running_pack({**CONFIG, "mlserve:services": "{oops"}, stack="prod") as broken:
        broken.configure(None)
        stack = good_stack()["stack"]
        # WHEN the stack resource is analyzed THEN the pack says it cannot read the config
        assert [(v.policy_name, v.mandatory) for v in broken.analyze(stack)] == [
            ("mlserve-config-readable", True)
        ]


def test_given_pack_that_cannot_start_when_started_then_error_shows_its_stderr(
    tmp_path: Path,
) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (tmp_path / "__main__.py").write_text("raise SystemExit('pack exploded on purpose')\n")
    with (
        pytest.raises(PolicyPackError, match="pack exploded on purpose"),
        running_pack(CONFIG, stack="prod", pack_dir=tmp_path),
    ):
        pytest.fail("the pack must not start")


def test_given_context_when_left_then_pack_process_is_gone() -> None:
    with running_pack(CONFIG, stack="prod") as short_lived:
        assert short_lived.process.poll() is None
        short_lived.call("GetAnalyzerInfo", empty_pb2.Empty())
    assert short_lived.process.poll() is not None


def test_given_pack_folder_then_it_ships_on_its_own() -> None:
    # GIVEN the pack's files THEN it declares its runtime and pins only the policy SDK
    assert "name: python" in (PACK_DIR / "PulumiPolicy.yaml").read_text()
    pins = [
        line for line in (PACK_DIR / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    assert pins == ["pulumi-policy==1.21.0", "pulumi==3.272.0"]
    sources = "\n".join(path.read_text() for path in PACK_DIR.glob("*.py"))
    assert "components" not in {
        line.split()[1].split(".")[0]
        for line in sources.splitlines()
        if line.startswith(("import ", "from "))
    }
