"""AWS SigV4 signing for services deployed with `auth: iam` (needs `mlserve-client[iam]`)."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from mlserve_client._errors import MlserveError
from mlserve_client._http import HttpRequest

_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")


class SigV4Auth:
    """Signs every attempt with botocore's SigV4 for service `execute-api`."""

    service = "execute-api"

    def __init__(self, *, region: str | None = None, credentials: Any = None) -> None:
        _require_botocore()
        if credentials is None:
            from botocore.session import get_session

            credentials = get_session().get_credentials()
            if credentials is None:
                raise MlserveError(
                    "no AWS credentials found for IAM auth; configure a profile, environment "
                    "variables or an instance role, or pass credentials="
                )
        self.credentials = credentials
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")

    @classmethod
    def from_keys(
        cls,
        access_key: str,
        secret_key: str,
        token: str | None = None,
        *,
        region: str | None = None,
    ) -> SigV4Auth:
        """An auth from explicit keys, e.g. from an assumed role."""
        _require_botocore()
        from botocore.credentials import Credentials

        return cls(region=region, credentials=Credentials(access_key, secret_key, token))

    def sign(self, request: HttpRequest) -> HttpRequest:
        """A copy of the request with X-Amz-Date, Authorization (and a session token) added."""
        from botocore.auth import SigV4Auth as BotocoreSigV4
        from botocore.awsrequest import AWSRequest

        region = self.region or region_of(request.url)
        if region is None:
            raise MlserveError(
                f"cannot tell the AWS region of {request.url}; pass SigV4Auth(region=...)"
            )
        wire = AWSRequest(
            method=request.method,
            url=request.url,
            data=request.body or b"",
            headers=dict(request.headers),
        )
        BotocoreSigV4(self.credentials, self.service, region).add_auth(wire)
        return HttpRequest(
            method=request.method,
            url=request.url,
            headers={name: str(value) for name, value in wire.headers.items()},
            body=request.body,
        )


def region_of(url: str) -> str | None:
    """The region of an `execute-api` endpoint URL; None for custom domains."""
    match = _EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def _require_botocore() -> None:
    """Fail with the install hint when the optional `iam` extra is missing."""
    try:
        import botocore  # noqa: F401
    except ImportError as error:
        raise ImportError("IAM auth needs botocore: pip install 'mlserve-client[iam]'") from error
