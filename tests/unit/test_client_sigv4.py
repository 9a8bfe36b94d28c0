"""SigV4 signing for `auth: iam` services, checked against the algorithm with fixed fake keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from urllib.parse import urlsplit

import pytest
from mlserve_client import Client, HttpRequest, SigV4Auth
from mlserve_client._auth import region_of
from mlserve_client.testing import FakeTransport, json_response

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
ENDPOINT = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
ANSWER = {
    "results": [{"label": "positive", "score": 0.8}],
    "model": {"name": "nb", "version": "v2", "digest": "sha256:00", "trained_on": "2026-11-27"},
}
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<scope>\d{8}/[a-z0-9-]+/execute-api/"
    r"aws4_request), SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(request: HttpRequest, signed: str, scope: str, secret: str) -> str:
    """The SigV4 signature recomputed from the request as sent (AWS's documented algorithm)."""
    headers = {name.lower(): " ".join(value.split()) for name, value in request.headers.items()}
    url = urlsplit(request.url)
    headers.setdefault("host", url.netloc)
    canonical = "\n".join(
        [
            request.method,
            url.path or "/",
            url.query,
            "".join(f"{name}:{headers[name]}\n" for name in signed.split(";")),
            signed,
            hashlib.sha256(request.body or b"").hexdigest(),
        ]
    )
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", headers["x-amz-date"], scope,
         hashlib.sha256(canonical.encode()).hexdigest()]
    )  # fmt: skip
    day, region, service, terminal = scope.split("/")
    key = _hmac(f"AWS4{secret}".encode(), day)
    for part in (region, service, terminal):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_given_iam_auth_when_predicting_then_request_signed_for_execute_api() -> None:
    # GIVEN a client with fixed fake keys for an execute-api endpoint in eu-west-1
    transport = FakeTransport([json_response(200, ANSWER)])
    auth = SigV4Auth.from_keys(ACCESS_KEY, SECRET_KEY, region="eu-west-1")
    client = Client(ENDPOINT, auth=auth, transport=transport)
    # WHEN a POST is sent
    client.sentiment.v2.predict({"texts": ["good"]})
    # THEN it carries a SigV4 Authorization with the right credential scope
    sent = transport.requests[0]
    headers = {name.lower(): value for name, value in sent.headers.items()}
    match = AUTHORIZATION.match(headers["authorization"])
    assert match is not None, headers["authorization"]
    assert match["key"] == ACCESS_KEY
    assert match["scope"] == f"{headers['x-amz-date'][:8]}/eu-west-1/execute-api/aws4_request"
    assert {"host", "x-amz-date", "content-type"} <= set(match["signed"].split(";"))
    # AND the signature is the one AWS would compute over exactly what was sent
    assert json.loads(sent.body or b"") == {"texts": ["good"]}
    assert match["signature"] == expected_signature(sent, match["signed"], match["scope"],
                                                    SECRET_KEY)  # fmt: skip


def test_given_tampered_body_when_verified_then_signature_differs() -> None:
    # GIVEN a signed request
    auth = SigV4Auth.from_keys(ACCESS_KEY, SECRET_KEY, region="eu-west-1")
    signed = auth.sign(
        HttpRequest(
            "POST",
            f"{ENDPOINT}/sentiment/v2/predict",
            {"content-type": "application/json"},
            b'{"texts":["a"]}',
        )
    )
    match = AUTHORIZATION.match(signed.headers["Authorization"])
    assert match is not None
    # WHEN its body is changed after signing
    tampered = HttpRequest(signed.method, signed.url, signed.headers, b'{"texts":["b"]}')
    # THEN the recomputed signature no longer matches (the check above can fail)
    assert match["signature"] != expected_signature(tampered, match["signed"], match["scope"],
                                                    SECRET_KEY)  # fmt: skip


def test_given_session_token_when_signed_then_token_header_sent() -> None:
    # GIVEN temporary credentials / WHEN a request is signed
    auth = SigV4Auth.from_keys(ACCESS_KEY, SECRET_KEY, "FAKE/SESSION+TOKEN", region="us-east-1")
    signed = auth.sign(HttpRequest("GET", f"{ENDPOINT}/sentiment/v2/health"))
    # THEN the session token travels with it, and the original request is untouched
    assert signed.headers["X-Amz-Security-Token"] == "FAKE/SESSION+TOKEN"
    assert "/us-east-1/execute-api/" in signed.headers["Authorization"]


def test_given_no_region_when_signed_then_region_read_from_execute_api_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN no region configured anywhere
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    auth = SigV4Auth.from_keys(ACCESS_KEY, SECRET_KEY)
    request = HttpRequest("GET", f"{ENDPOINT}/sentiment/v2/health")
    # WHEN signed / THEN the scope names the endpoint's region
    assert "/eu-west-1/execute-api/aws4_request" in auth.sign(request).headers["Authorization"]
    assert request.headers == {}
    assert region_of("https://models.example.com/x") is None
