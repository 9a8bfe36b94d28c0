"""What a call can raise or warn: one base error, then one class per thing a caller handles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class MlserveError(Exception):
    """Base class of every error the client raises."""


class TransportError(MlserveError):
    """No HTTP response: connection refused or reset, DNS failure, timeout."""


class UnexpectedResponseError(MlserveError):
    """A 2xx response whose body does not match the version's response model."""


class ApiError(MlserveError):
    """The API answered with an error status; `status`, `body` and `problem` say what it was."""

    def __init__(self, message: str, *, status: int, body: bytes, url: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.url = url
        self.problem: dict[str, Any] | None = json_object(body)


@dataclass(frozen=True)
class FieldError:
    """One rejected request field from a problem details `errors` list."""

    field: str
    message: str


class InvalidRequestError(ApiError):
    """400: the server rejected the request body; `errors` lists each field and why."""

    def __init__(self, message: str, *, status: int, body: bytes, url: str) -> None:
        super().__init__(message, status=status, body=body, url=url)
        raw = (self.problem or {}).get("errors")
        self.errors: tuple[FieldError, ...] = tuple(
            FieldError(field=str(item.get("field", "")), message=str(item.get("message", "")))
            for item in (raw if isinstance(raw, list) else [])
            if isinstance(item, dict)
        )

    @property
    def fields(self) -> list[str]:
        """The names of the rejected fields, in the server's order."""
        return [error.field for error in self.errors]


class VersionGoneError(ApiError):
    """410: the version is past its sunset and no longer answers; move to `successor`."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: bytes,
        url: str,
        service: str,
        version: str,
        successor: str | None,
        sunset_at: datetime | None,
    ) -> None:
        super().__init__(message, status=status, body=body, url=url)
        self.service = service
        self.version = version
        self.successor = successor
        self.sunset_at = sunset_at


class MlserveDeprecationWarning(FutureWarning):
    """A called version is deprecated; shown by default, unlike DeprecationWarning."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        version: str,
        sunset_at: datetime | None,
        successor: str | None,
    ) -> None:
        super().__init__(message)
        self.service = service
        self.version = version
        self.sunset_at = sunset_at
        self.successor = successor


def json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None
