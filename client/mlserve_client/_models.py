"""Base models: requests are closed like the server's, responses ignore fields added later."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body: unknown fields are an error, as on the server."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ResponseModel(BaseModel):
    """A response body: fields the server adds within a major are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Health(ResponseModel):
    """GET /health of a version."""

    status: str
    service: str
    version: str
    lifecycle: str


class MetadataLifecycle(ResponseModel):
    """The lifecycle part of a version's metadata."""

    status: str
    deprecated_on: date | None = None
    sunset_on: date | None = None
    successor: str | None = None


class Metadata(ResponseModel):
    """GET /metadata of a version: which model serves it under which contract."""

    service: str
    version: str
    major_version: int
    model_name: str
    model_digest: str
    trained_on: str
    contract_hash: str | None = None
    max_body_bytes: int | None = None
    routes: list[str] = []
    lifecycle: MetadataLifecycle
