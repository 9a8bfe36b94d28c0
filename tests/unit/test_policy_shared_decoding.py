"""The pack's SharedDecodingServicer against pulumi-policy's own servicer, in process: policies
must see exactly the same resources, decoded once instead of once per policy."""

from __future__ import annotations

import gc
from typing import Any

import pulumi_policy.policy as policy_module
import pytest
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationPolicy,
    StackValidationPolicy,
)
from pulumi_policy.policy import _PolicyAnalyzerServicer

from mlserve.analyzer import UNKNOWN, to_struct
from tests.support.pack import pack_module

shared_decoding = pack_module("shared_decoding")
STACK = "urn:pulumi:prod::mlserve::pulumi:pulumi:Stack::mlserve-prod"


def resource(name: str, props: dict[str, Any], **links: Any) -> analyzer_pb2.AnalyzerResource:
    """A resource of type test:index:Thing, parented to the stack, with dependencies."""
    message = analyzer_pb2.AnalyzerResource(
        type="test:index:Thing",
        urn=f"urn:pulumi:prod::mlserve::test:index:Thing::{name}",
        name=name,
        properties=to_struct(props),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=name == "a", parent=STACK),
        parent=STACK,
        dependencies=links.pop("dependencies", []),
    )
    for prop, urns in links.items():
        message.propertyDependencies[prop].urns.extend(urns)
    return message


A_URN = "urn:pulumi:prod::mlserve::test:index:Thing::a"
REQUEST = analyzer_pb2.AnalyzeStackRequest(
    resources=[
        analyzer_pb2.AnalyzerResource(
            type="pulumi:pulumi:Stack", urn=STACK, name="mlserve-prod", properties=to_struct({})
        ),
        resource("a", {"name": "a", "nested": {"list": [1, "x", None]}}),
        resource("b", {"ref": "a", "later": UNKNOWN}, dependencies=[A_URN], ref=[A_URN]),
        resource("c", {}, dependencies=[A_URN, "urn:elsewhere"]),
    ]
)


def dump(resources: list[PolicyResource]) -> list[tuple[Any, ...]]:
    """Everything a stack policy can see, in comparable form (unknowns stay unknown)."""

    def plain(value: Any) -> Any:
        if hasattr(value, "__getitem__") and hasattr(value, "keys"):
            return {key: plain(value["__target"][key]) for key in value["__target"]}
        if hasattr(value, "__len__") and not isinstance(value, str):
            return [plain(item) for item in value["__target"]]
        return value

    return [
        (
            r.resource_type,
            r.urn,
            r.name,
            plain(r.props),
            r.opts.protect,
            r.opts.parent,
            r.parent.urn if r.parent else None,
            [d.urn for d in r.dependencies],
            {key: [d.urn for d in deps] for key, deps in r.property_dependencies.items()},
        )
        for r in resources
    ]


def servicer(kind: type, policies: list[Any]) -> Any:
    return kind("mlserve", "0.0.1", policies, EnforcementLevel.MANDATORY)


def test_given_same_stack_request_when_both_servicers_decode_then_policies_see_the_same() -> None:
    # GIVEN two stack policies that record what they are given
    seen: dict[str, list[Any]] = {"stock": [], "shared": []}

    def probes(target: list[Any]) -> list[StackValidationPolicy]:
        return [
            StackValidationPolicy(
                name=f"probe-{index}",
                description="Requires nothing.",
                validate=lambda args, report: target.append(args.resources),
            )
            for index in range(2)
        ]

    # WHEN each servicer handles the same AnalyzeStack request
    servicer(_PolicyAnalyzerServicer, probes(seen["stock"])).AnalyzeStack(REQUEST, None)
    servicer(shared_decoding.SharedDecodingServicer, probes(seen["shared"])).AnalyzeStack(
        REQUEST, None
    )
    # THEN every policy sees identical resources, links and unknowns
    dumps = {kind: [dump(resources) for resources in lists] for kind, lists in seen.items()}
    assert dumps["stock"] == dumps["shared"]
    assert dumps["shared"][0][2][8] == {"ref": [A_URN]}
    # AND the shared servicer decoded once: both policies got the very same objects
    assert seen["shared"][0] is seen["shared"][1]
    assert seen["stock"][0] is not seen["stock"][1]


def test_given_same_analyze_request_when_both_servicers_decode_then_policies_see_the_same() -> None:
    seen: dict[str, list[Any]] = {"stock": [], "shared": []}
    message = REQUEST.resources[2]
    request = analyzer_pb2.AnalyzeRequest(
        type=message.type,
        urn=message.urn,
        name=message.name,
        properties=message.properties,
        options=message.options,
    )

    def probe(target: list[Any]) -> list[ResourceValidationPolicy]:
        return [
            ResourceValidationPolicy(
                name="probe",
                description="Requires nothing.",
                validate=lambda args, report: target.append(
                    (
                        args.resource_type,
                        args.urn,
                        args.name,
                        args.props["ref"],
                        args.opts.protect,
                        args.opts.parent,
                        "later" in args.props["__target"],
                    )
                ),
            )
        ]

    servicer(_PolicyAnalyzerServicer, probe(seen["stock"])).Analyze(request, None)
    servicer(shared_decoding.SharedDecodingServicer, probe(seen["shared"])).Analyze(request, None)
    assert seen["stock"] == seen["shared"] != []


@pytest.mark.parametrize("method", ["Analyze", "AnalyzeStack"])
def test_given_unknown_read_when_both_servicers_run_then_same_advisory(method: str) -> None:
    # GIVEN a policy that reads the unknown property of resource b
    def reads_unknown(args: Any, report: Any) -> None:
        resources = getattr(args, "resources", None) or [args]
        for item in resources:
            if item.name == "b":
                item.props["later"]

    policy_type = ResourceValidationPolicy if method == "Analyze" else StackValidationPolicy
    policies = [policy_type(name="reader", description="Requires b.", validate=reads_unknown)]
    message = REQUEST.resources[2]
    request = (
        analyzer_pb2.AnalyzeRequest(
            type=message.type, urn=message.urn, name="b", properties=message.properties
        )
        if method == "Analyze"
        else REQUEST
    )
    # WHEN each servicer runs it THEN both answer with the same advisory diagnostic
    answers = [
        getattr(servicer(kind, policies), method)(request, None)
        for kind in (_PolicyAnalyzerServicer, shared_decoding.SharedDecodingServicer)
    ]
    assert answers[0] == answers[1]
    (diagnostic,) = answers[1].diagnostics
    assert diagnostic.enforcementLevel == analyzer_pb2.ADVISORY
    assert "during preview" in diagnostic.message


def test_given_stock_switch_when_installing_then_pulumi_policy_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLSERVE_POLICY_STOCK_DECODING", "1")
    monkeypatch.setattr(policy_module, "_PolicyAnalyzerServicer", _PolicyAnalyzerServicer)
    assert shared_decoding.install_shared_decoding() is False
    assert policy_module._PolicyAnalyzerServicer is _PolicyAnalyzerServicer
    monkeypatch.delenv("MLSERVE_POLICY_STOCK_DECODING")
    assert shared_decoding.install_shared_decoding() is True
    assert policy_module._PolicyAnalyzerServicer is shared_decoding.SharedDecodingServicer


def test_given_stack_request_when_analyzed_then_cyclic_gc_paused_and_then_restored() -> None:
    # GIVEN a stack policy that records whether the cyclic collector runs during validation
    during: list[bool] = []
    policy = StackValidationPolicy(
        name="probe",
        description="Requires nothing.",
        validate=lambda args, report: during.append(gc.isenabled()),
    )
    assert gc.isenabled()
    # WHEN the shared servicer analyzes a stack THEN it was paused, and is back on afterwards
    servicer(shared_decoding.SharedDecodingServicer, [policy]).AnalyzeStack(REQUEST, None)
    assert during == [False]
    assert gc.isenabled()
