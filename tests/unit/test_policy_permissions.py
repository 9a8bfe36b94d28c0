"""lambda-permissions-scoped and no-wildcard-principals, called directly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import UnknownValueError

from tests.support.pack import (
    PERMISSION,
    UNKNOWN,
    check,
    engine_config,
    pack_module,
    resource_args,
    use_stack_config,
)

permissions = pack_module("permissions")
ROUTE_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/*/POST/churn/v2/predict"
API_GRANT = {
    "action": "lambda:InvokeFunction",
    "function": "churn_v2",
    "principal": "apigateway.amazonaws.com",
    "qualifier": "prod_v2",
    "sourceArn": ROUTE_ARN,
}
QUALIFIED_ARN = "arn:aws:lambda:us-east-1:123456789012:function:churn_v2:prod_v2"
CONSUMER_GRANT = {
    "action": "lambda:InvokeFunction",
    "function": "churn_v2",
    "principal": "arn:aws:iam::210987654321:role/partner-analytics",
    "qualifier": "prod_v2",
}


@pytest.fixture(autouse=True)
def prod_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The prod stack."""
    use_stack_config(monkeypatch, engine_config())


@pytest.mark.parametrize(
    "props",
    [
        API_GRANT,
        CONSUMER_GRANT,
        {**API_GRANT, "qualifier": None, "function": QUALIFIED_ARN},
    ],
)
def test_given_qualified_scoped_permission_when_checked_then_passes(props: dict[str, Any]) -> None:
    args = resource_args(PERMISSION, props)
    assert check(permissions.lambda_permissions_scoped, args) == []
    assert check(permissions.no_wildcard_principals, args) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"qualifier": None}, "grants the whole function"),
        ({"qualifier": "$LATEST"}, "grants the whole function"),
        ({"sourceArn": None}, "no sourceArn, no sourceAccount"),
        ({"sourceArn": None, "sourceAccount": "123456789012"}, "without a sourceArn"),
        ({"principal": "events.amazonaws.com", "sourceArn": None}, "on behalf of any account"),
        ({"sourceArn": "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/*"}, "wildcard"),
        ({"sourceArn": "arn:aws:execute-api:us-east-1:123456789012:a1b2c3/*/*"}, "wildcard"),
        ({"sourceArn": "arn:aws:execute-api:us-east-1:123456789012:*/*/POST/x"}, "one API's"),
        ({"sourceArn": "arn:aws:s3:::bucket"}, "one API's"),
    ],
)
def test_given_unscoped_permission_when_checked_then_violation(
    change: dict[str, Any], expected: str
) -> None:
    # GIVEN an API Gateway grant missing its qualifier or scoped to more than one route
    props = {key: value for key, value in {**API_GRANT, **change}.items() if value is not None}
    # WHEN checked THEN one violation explains the fix
    messages = check(permissions.lambda_permissions_scoped, resource_args(PERMISSION, props))
    assert len(messages) == 1 and expected in messages[0]


@pytest.mark.parametrize("principal", ["*", "arn:aws:iam::*:root"])
def test_given_wildcard_principal_permission_when_checked_then_violation(principal: str) -> None:
    args = resource_args(PERMISSION, {**CONSUMER_GRANT, "principal": principal})
    messages = check(permissions.no_wildcard_principals, args)
    assert len(messages) == 1 and "wildcard" in messages[0]


@pytest.mark.parametrize(
    "principal",
    ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::123456789012:root", "*"]}],
)
def test_given_trust_policy_allowing_anyone_when_checked_then_violation(principal: Any) -> None:
    # GIVEN a role whose trust policy allows any principal
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
    }
    args = resource_args("aws:iam/role:Role", {"assumeRolePolicy": json.dumps(document)})
    # WHEN checked THEN it is a violation
    messages = check(permissions.no_wildcard_principals, args)
    assert len(messages) == 1 and "allows principal '*'" in messages[0]


def test_given_deny_with_wildcard_and_service_trust_when_checked_then_passes() -> None:
    # GIVEN the Lambda trust policy and a Deny-everyone statement (which only narrows access)
    document = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}},
            {"Effect": "Deny", "Principal": "*", "Action": "*"},
        ]
    }
    args = resource_args("aws:iam/role:Role", {"assumeRolePolicy": json.dumps(document)})
    assert check(permissions.no_wildcard_principals, args) == []


def test_given_resource_policy_with_not_principal_when_checked_then_violation() -> None:
    document = {"Statement": {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}}}
    args = resource_args("aws:s3/bucketPolicy:BucketPolicy", {"policy": document})
    messages = check(permissions.no_wildcard_principals, args)
    assert len(messages) == 1 and "NotPrincipal" in messages[0]


def test_given_unknown_source_arn_when_previewed_then_qualifier_checked_then_unknown() -> None:
    # GIVEN a preview: the API's execution ARN is not known yet, and the qualifier is missing
    props = {key: value for key, value in API_GRANT.items() if key != "qualifier"}
    props["sourceArn"] = UNKNOWN
    reported: list[str] = []
    # WHEN checked THEN the missing qualifier is reported and the rest cannot run
    with pytest.raises(UnknownValueError):
        permissions.lambda_permissions_scoped.validate(
            resource_args(PERMISSION, props), lambda message, urn=None: reported.append(message)
        )
    assert len(reported) == 1 and "grants the whole function" in reported[0]


def test_given_unknown_trust_policy_when_previewed_then_cannot_run() -> None:
    args = resource_args("aws:iam/role:Role", {"assumeRolePolicy": UNKNOWN})
    with pytest.raises(UnknownValueError):
        check(permissions.no_wildcard_principals, args)


def test_given_unknown_identity_policy_when_previewed_then_not_needed() -> None:
    # GIVEN an identity policy (which cannot name principals) computed from an unknown ARN
    args = resource_args("aws:iam/rolePolicy:RolePolicy", {"policy": UNKNOWN, "role": "r"})
    # WHEN checked THEN the rule has nothing to read and passes without a preview note
    assert check(permissions.no_wildcard_principals, args) == []


def test_given_policy_document_not_json_when_checked_then_violation() -> None:
    args = resource_args("aws:iam/role:Role", {"assumeRolePolicy": "{not json"})
    assert check(permissions.no_wildcard_principals, args) == [
        "assumeRolePolicy of 'resource': is not a JSON policy document"
    ]
