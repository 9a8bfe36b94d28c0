"""The shared event builder produces what API Gateway sends and what powertools reads."""

from __future__ import annotations

import base64
import json

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from tests.support.events import http_api_event

TOP_LEVEL = {"version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext",
             "isBase64Encoded"}  # fmt: skip
CONTEXT = {"accountId", "apiId", "domainName", "domainPrefix", "http", "requestId", "routeKey",
           "stage", "time", "timeEpoch"}  # fmt: skip


def test_given_a_get_without_body_when_built_then_only_documented_keys_are_present() -> None:
    # GIVEN a GET with neither body, query nor cookies, WHEN built
    event = http_api_event("GET", "/churn/v2/health", time_epoch_ms=1_583_348_638_390)
    # THEN it has exactly the payload 2.0 keys AWS sends for such a request
    assert set(event) == TOP_LEVEL
    assert set(event["requestContext"]) == CONTEXT
    assert event["version"] == "2.0" and event["requestContext"]["stage"] == "$default"
    assert set(event["requestContext"]["http"]) == {
        "method", "path", "protocol", "sourceIp", "userAgent"
    }  # fmt: skip
    assert event["requestContext"]["time"] == "04/Mar/2020:19:03:58 +0000"
    assert all(name == name.lower() for name in event["headers"])


def test_given_a_post_with_query_cookies_and_headers_when_read_by_powertools_then_it_agrees() -> (
    None
):
    # GIVEN a POST with a repeated query parameter, cookies and a mixed-case header
    event = http_api_event(
        "POST",
        "/churn/v2/predict",
        json_body={"a": 1},
        query="x=1&x=2&y=",
        cookies=["session=abc"],
        headers={"X-Tenant": "acme"},
    )
    # WHEN powertools' payload 2.0 data class reads it
    parsed = APIGatewayProxyEventV2(event)
    # THEN method, path, body, query and headers come out as API Gateway would deliver them
    assert parsed.http_method == "POST" and parsed.path == "/churn/v2/predict"
    assert parsed.json_body == {"a": 1}
    assert parsed.query_string_parameters == {"x": "1,2", "y": ""}
    assert parsed.cookies == ["session=abc"]
    assert event["headers"]["x-tenant"] == "acme"
    assert event["headers"]["content-length"] == str(
        len(json.dumps({"a": 1}, separators=(",", ":")))
    )
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /churn/v2/predict"


def test_given_base64_flag_or_bytes_when_built_then_the_body_is_base64_of_the_raw_bytes() -> None:
    # GIVEN a text body flagged base64 and a binary body
    text = http_api_event("POST", "/p", body='{"t":"ü"}', base64_encoded=True)
    binary = http_api_event("POST", "/p", body=b"\x00\xff")
    # THEN both carry base64 of their bytes and say so
    assert text["isBase64Encoded"] and binary["isBase64Encoded"]
    assert base64.b64decode(text["body"]) == '{"t":"ü"}'.encode()
    assert base64.b64decode(binary["body"]) == b"\x00\xff"
    assert APIGatewayProxyEventV2(text).decoded_body == '{"t":"ü"}'


def test_given_iam_caller_when_built_then_the_authorizer_names_the_role() -> None:
    role = "arn:aws:iam::210987654321:role/partner-analytics"
    event = http_api_event("POST", "/sentiment/v2/predict", iam_caller=role)
    iam = event["requestContext"]["authorizer"]["iam"]
    assert iam["accountId"] == "210987654321"
    assert iam["userArn"].startswith("arn:aws:sts::210987654321:assumed-role/partner-analytics/")
