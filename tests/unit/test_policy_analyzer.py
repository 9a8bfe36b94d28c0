"""mlserve/analyzer.py without a pack process: messages, marshalling and config reconciliation."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format
from pulumi.output import Unknown
from pulumi_policy.deserialize import deserialize_properties

from mlserve.analyzer import (
    UNKNOWN,
    PolicyConfigError,
    PolicyInfo,
    analyze_run,
    reconcile_policy_config,
    resources_from_run,
    schema_problems,
    to_struct,
)
from mlserve.offline import ProgramRun, Registration
from tests.support.pack import pack_module

STACK_URN = "urn:pulumi:prod::mlserve::pulumi:pulumi:Stack::mlserve-prod"
COMPONENT_URN = "urn:pulumi:prod::mlserve::mlserve:lambda:VersionedFunction::churn-v2"
FUNCTION_URN = (
    "urn:pulumi:prod::mlserve::mlserve:lambda:VersionedFunction$aws:lambda/function:Function::"
    "churn-v2"
)
ALIAS_URN = (
    "urn:pulumi:prod::mlserve::mlserve:lambda:VersionedFunction$aws:lambda/alias:Alias::"
    "churn-v2-alias"
)


def registration(urn: str, type_: str, **fields: Any) -> Registration:
    """A recorded RegisterResource request with defaults for what a test does not care about."""
    values: dict[str, Any] = {
        "urn": urn, "id": "", "type": type_, "name": urn.rsplit("::", 1)[1], "custom": True,
        "parent": "", "protect": False, "inputs": {}, "outputs": {}, "dependencies": (),
        "property_dependencies": {}, "provider": "",
    }  # fmt: skip
    values.update(fields)
    return Registration(**values)


def small_run(*, preview: bool = False) -> ProgramRun:
    """A stack, a component, a function and its alias, as the recording monitor keeps them."""
    version: Any = Unknown() if preview else "7"
    return ProgramRun(
        stack="prod",
        registrations=[
            registration(STACK_URN, "pulumi:pulumi:Stack", custom=False),
            registration(
                COMPONENT_URN, "mlserve:lambda:VersionedFunction", custom=False, parent=STACK_URN
            ),
            registration(
                FUNCTION_URN,
                "aws:lambda/function:Function",
                parent=COMPONENT_URN,
                protect=True,
                inputs={
                    "name": "churn_v2",
                    "code": pulumi.AssetArchive(
                        {"app.py": pulumi.FileAsset("/x/app.py"), "stamp": pulumi.StringAsset("{}")}
                    ),
                },
                outputs={"name": "churn_v2", "version": version},
            ),
            registration(
                ALIAS_URN,
                "aws:lambda/alias:Alias",
                parent=COMPONENT_URN,
                protect=True,
                inputs={"name": "prod_v2", "functionName": "churn_v2", "functionVersion": version},
                outputs={"name": "prod_v2", "functionName": "churn_v2", "functionVersion": version},
                dependencies=(FUNCTION_URN,),
                property_dependencies={"functionName": (FUNCTION_URN,), "name": ()},
            ),
        ],
        outputs={"versions": {"churn": {"v2": {"status": "active", "lambdaVersion": version}}}},
        warnings=[],
        preview=preview,
        config={"aws:region": "us-east-1", "mlserve:environment": "prod"},
    )


def test_given_run_when_converted_then_engine_adds_default_provider_first() -> None:
    # GIVEN a run with AWS resources on the default provider
    resources = resources_from_run(small_run())
    # THEN the engine's default provider precedes the first AWS resource, configured from aws:*
    types = [resource.type for resource in resources]
    assert types == [
        "pulumi:pulumi:Stack", "mlserve:lambda:VersionedFunction", "pulumi:providers:aws",
        "aws:lambda/function:Function", "aws:lambda/alias:Alias",
    ]  # fmt: skip
    provider = resources[2]
    assert provider.urn == "urn:pulumi:prod::mlserve::pulumi:providers:aws::default_7_51_1"
    assert json_format.MessageToDict(provider.properties) == {
        "region": "us-east-1", "version": "7.51.1",
    }  # fmt: skip
    assert resources[3].provider.urn == provider.urn
    assert not resources[1].HasField("provider")


def test_given_run_when_converted_for_analyze_stack_then_outputs_options_and_links() -> None:
    alias = resources_from_run(small_run())[4]
    assert json_format.MessageToDict(alias.properties)["functionVersion"] == "7"
    assert alias.options.protect is True
    assert alias.parent == COMPONENT_URN and alias.options.parent == ""
    assert list(alias.dependencies) == [FUNCTION_URN]
    assert list(alias.propertyDependencies["functionName"].urns) == [FUNCTION_URN]


def test_given_run_when_converted_for_analyze_then_inputs_and_parent_option() -> None:
    function = resources_from_run(small_run(), inputs=True)[3]
    props = deserialize_properties(json_format.MessageToDict(function.properties))
    # THEN the archive arrives as pulumi-policy reads it, and Analyze carries the parent option
    assert isinstance(props["code"], pulumi.AssetArchive)
    app, stamp = props["code"].assets["app.py"], props["code"].assets["stamp"]
    assert isinstance(app, pulumi.FileAsset) and app.path == "/x/app.py"
    assert isinstance(stamp, pulumi.StringAsset) and stamp.text == "{}"
    assert function.options.parent == COMPONENT_URN


def test_given_preview_run_when_converted_then_unknowns_are_engine_sentinels() -> None:
    resources = resources_from_run(small_run(preview=True))
    stack, alias = resources[0], resources[4]
    assert json_format.MessageToDict(alias.properties)["functionVersion"] == UNKNOWN
    stack_versions = json_format.MessageToDict(stack.properties)["versions"]
    assert stack_versions["churn"]["v2"]["lambdaVersion"] == UNKNOWN


def test_given_value_the_engine_cannot_marshal_when_converted_then_error() -> None:
    with pytest.raises(TypeError, match="cannot marshal object"):
        to_struct({"thing": object()})


def test_given_failed_program_when_analyzed_then_error_before_any_pack_starts() -> None:
    run = small_run()
    run.error = "invalid stack config (1 problem(s))"
    with pytest.raises(ValueError, match="the engine would stop before AnalyzeStack"):
        analyze_run(run)


def removal_info() -> PolicyInfo:
    """The removal policy as GetAnalyzerInfo describes it (its real schema)."""
    schema = pack_module("removal").no_removal_of_non_deprecated_versions.config_schema
    return PolicyInfo(
        name="no-removal-of-non-deprecated-versions", description="", kind="stack",
        enforcement_level="mandatory", remediation_steps="", config_schema=schema.properties,
    )  # fmt: skip


OTHER = PolicyInfo(
    name="lambda-tracing-active", description="", kind="resource", enforcement_level="advisory",
    remediation_steps="",
)  # fmt: skip
LEDGER = {"churn": {"v1": {"status": "deprecated", "sunsetOn": "2027-06-30", "pinned": False}}}


def test_given_no_config_file_when_reconciled_then_every_policy_gets_its_default() -> None:
    assert reconcile_policy_config([removal_info(), OTHER], {}, None) == {
        "no-removal-of-non-deprecated-versions": ("mandatory", {}),
        "lambda-tracing-active": ("advisory", {}),
    }


def test_given_config_file_when_reconciled_then_levels_and_properties_apply() -> None:
    # GIVEN a file setting every policy advisory, one back to mandatory with a ledger
    config = {
        "all": "advisory",
        "no-removal-of-non-deprecated-versions": {
            "enforcementLevel": "mandatory",
            "ledger": LEDGER,
            "today": "2027-08-01",
        },
    }
    reconciled = reconcile_policy_config([removal_info(), OTHER], {}, config)
    assert reconciled == {
        "no-removal-of-non-deprecated-versions": (
            "mandatory",
            {"ledger": LEDGER, "today": "2027-08-01"},
        ),
        "lambda-tracing-active": ("advisory", {}),
    }


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"no-removal-of-non-deprecated-versions": {"newStack": "yes"}},
            "is not of type 'boolean'",
        ),
        ({"no-removal-of-non-deprecated-versions": {"today": "tomorrow"}}, "does not match"),
        ({"no-removal-of-non-deprecated-versions": {"ledger": []}}, "is not of type 'object'"),
        ({"no-removal-of-non-deprecated-versions": "strict"}, "not a valid enforcement level"),
        ({"no-removal-of-non-deprecated-version": {"ledger": LEDGER}}, "not a policy of the pack"),
        ({"lambda-tracing-active": 3}, "a string or object"),
    ],
)
def test_given_config_the_engine_rejects_when_reconciled_then_error(
    config: dict[str, Any], expected: str
) -> None:
    with pytest.raises(PolicyConfigError, match=re.escape(expected)):
        reconcile_policy_config([removal_info(), OTHER], {}, config)


def test_given_schema_keywords_when_validated_then_each_one_is_enforced() -> None:
    schema = {
        "type": "object",
        "required": ["a"],
        "properties": {"a": {"type": "integer", "minimum": 1}, "b": {"type": "array",
                       "items": {"type": "string"}}},
        "additionalProperties": False,
    }  # fmt: skip
    assert schema_problems({"a": 1, "b": ["x"]}, schema) == []
    problems = schema_problems({"a": True, "b": [1], "c": 0}, schema)
    assert sorted(problems) == [
        "(root): Additional properties are not allowed ('c' was unexpected)",
        "a: True is not of type 'integer'",
        "b.0: 1 is not of type 'string'",
    ]
    assert schema_problems({}, schema) == ["(root): 'a' is a required property"]


def test_given_explicit_provider_when_converted_then_resources_name_it_not_the_default() -> None:
    # GIVEN a program that registers its own AWS provider and passes it to a function
    provider_urn = "urn:pulumi:prod::mlserve::pulumi:providers:aws::eu"
    run = small_run()
    run.registrations = [
        run.registrations[0],
        registration(provider_urn, "pulumi:providers:aws", inputs={"region": "eu-west-1"}),
        registration(
            FUNCTION_URN, "aws:lambda/function:Function", provider=f"{provider_urn}::abc123"
        ),
    ]
    # WHEN converted THEN no default provider appears and the function carries the explicit one
    resources = resources_from_run(run)
    assert [resource.type for resource in resources] == [
        "pulumi:pulumi:Stack", "pulumi:providers:aws", "aws:lambda/function:Function",
    ]  # fmt: skip
    assert resources[2].provider.urn == provider_urn
    assert json_format.MessageToDict(resources[2].provider.properties) == {"region": "eu-west-1"}
