"""OpenAPI 3.1 per stack, from each version's contract and the stack's routes.

Deprecated operations carry `deprecated: true`, their dates and successor in the description and
the Deprecation/Sunset/Link response headers; a queue version's route has `x-mlserve-queue`, its
queues and its work message and result schemas; written to docs/openapi/<stack>.json, with `--check`
to fail CI when a file no longer matches its stack config and contracts.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from components.settings import Settings, VersionSettings
from mlserve.contracts import canonical_json, contract_schemas
from mlserve.generated import Files, per_stack, write_or_check
from mlserve.offline import PROJECT_ROOT
from mlserve_runtime.batch import message_model, result_model
from mlserve_runtime.conventions import ATTRIBUTE_DEPRECATION, ATTRIBUTE_SUNSET, SURFACE_MODULE

OPENAPI_DIR = PROJECT_ROOT / "docs" / "openapi"
PROBLEM = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "successor": {"type": "string"},
        "more": {"type": "integer", "description": "how many further errors were left out"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["title", "status"],
}
LIFECYCLE_HEADERS = {
    "Deprecation": {
        "description": "RFC 9745: when the version was deprecated, `@<epoch seconds>`",
        "schema": {"type": "string", "pattern": "^@-?[0-9]+$"},
    },
    "Sunset": {
        "description": "RFC 8594: when the version stops answering (IMF-fixdate)",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'rel="deprecation", rel="sunset" and rel="successor-version" links',
        "schema": {"type": "string"},
    },
}


def _hoisted(schema: dict[str, Any], prefix: str, components: dict[str, Any]) -> dict[str, Any]:
    """Move a pydantic schema's `$defs` into components/schemas under unique names."""
    definitions = schema.pop("$defs", {})

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: (
                    f"#/components/schemas/{prefix}{item.rsplit('/', 1)[1]}"
                    if key == "$ref" and isinstance(item, str) and item.startswith("#/$defs/")
                    else rewrite(item)
                )
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        return value

    for name, definition in definitions.items():
        components[f"{prefix}{name}"] = rewrite(definition)
    return rewrite(schema)  # type: ignore[no-any-return]


def _lifecycle_note(version: VersionSettings) -> str:
    if version.status != "deprecated":
        return ""
    return (
        f" Deprecated since {version.deprecated_on}; sunset on {version.sunset_on} at 23:59:59 "
        f"UTC, after which it answers 410 Gone. Move to /{version.service}/{version.successor}."
    )


def build(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document of one stack."""
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, Any] = {}
    iam = False
    for service in settings.services.values():
        for version in service.deployed_versions:
            if version.source is None:
                continue  # an image without localCode: no contract to describe (the gate says so)
            prefix = f"{service.key.replace('-', '_')}_{version.key}_"
            contract = contract_schemas(version.source / SURFACE_MODULE)["routes"]
            deprecated = version.status == "deprecated"
            headers = LIFECYCLE_HEADERS if deprecated else {}
            note = _lifecycle_note(version)
            for route in version.all_routes:
                models = contract.get(route.key)
                name = f"{prefix}{route.slug.replace('-', '_')}"
                body_ref: dict[str, Any] = {"type": "object"}
                if models is not None:
                    response = _hoisted(models["response"], f"{name}_", schemas)
                    schemas[f"{name}_Response"] = response
                    body_ref = {"$ref": f"#/components/schemas/{name}_Response"}
                operation: dict[str, Any] = {
                    "operationId": name,
                    "tags": [f"{service.key} {version.key}"],
                    "summary": f"{route.key} of {service.key} {version.key}",
                    "description": (version.changelog + note).strip(),
                    "responses": {
                        "200": {
                            "description": "Success",
                            "headers": headers,
                            "content": {"application/json": {"schema": body_ref}},
                        },
                        "410": {
                            "description": "The version is past its sunset",
                            "content": {"application/problem+json": {"schema": PROBLEM}},
                        },
                        "500": {
                            "description": "Unexpected error",
                            "content": {"application/problem+json": {"schema": PROBLEM}},
                        },
                    },
                }
                if models is not None and models["request"] is not None:
                    request = _hoisted(models["request"], f"{name}_", schemas)
                    schemas[f"{name}_Request"] = request
                    operation["requestBody"] = {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{name}_Request"}
                            }
                        },
                    }
                    operation["responses"]["400"] = {
                        "description": "Invalid request; `errors` lists the first invalid fields",
                        "content": {"application/problem+json": {"schema": PROBLEM}},
                    }
                if version.queue_route == route and version.queue is not None:
                    operation["x-mlserve-queue"] = _queue_extension(version, name, schemas)
                if deprecated:
                    operation["deprecated"] = True
                if service.auth == "iam":
                    operation["security"] = [{"sigv4": []}]
                    iam = True
                path = f"{version.base_path}{route.path}"
                paths.setdefault(path, {})[route.method.lower()] = operation
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"mlserve ({settings.environment})",
            "version": settings.stack,
            "description": "Model services by major version; see docs/versions for lifecycles.",
        },
        "servers": [
            {"url": f"https://{settings.api.domain_name}"}
            if settings.api.domain_name
            else {
                "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
                "variables": {"apiId": {"default": "api-id"}, "region": {"default": "us-east-1"}},
                **(
                    {
                        "description": "Each service's own API (mlserve:api.layout perService) "
                        "serves its paths without /<service>: the stack's `endpoints` output "
                        "gives every version's base URL. A custom domain serves them as listed."
                    }
                    if settings.api.per_service
                    else {}
                ),
            }
        ],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    if iam:
        document["components"]["securitySchemes"] = {
            "sigv4": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "description": "AWS Signature Version 4 for execute-api (auth: iam)",
            }
        }
    return document


class _Placeholder(BaseModel):
    """Stands for a route's request or response in the envelope schemas."""


def _queue_extension(version: VersionSettings, name: str, schemas: dict[str, Any]) -> Any:
    """How batch callers reach the route: its queues, the work message and result schemas (the
    runtime's envelopes around the route's request and response) and the lifecycle attributes."""
    assert version.queue is not None
    for kind, model, inner in (("Message", message_model, "Request"),
                               ("Result", result_model, "Response")):  # fmt: skip
        schema = model(_Placeholder).model_json_schema()
        schema.pop("$defs")
        text = json.dumps(schema).replace(
            '"#/$defs/_Placeholder"', json.dumps(f"#/components/schemas/{name}_{inner}")
        )
        schemas[f"{name}_{kind}"] = json.loads(text)
    schemas[f"{name}_Result"]["properties"]["problem"] = {"anyOf": [PROBLEM, {"type": "null"}]}
    extension: dict[str, Any] = {
        "description": "Batch callers send work messages to the work queue and read one result "
        "per message from the results queue (or their replyTo queue); results of a deprecated "
        "version carry Deprecation and Sunset message attributes, and after the sunset every "
        "message is answered with a 410 problem.",
        "workQueue": version.queue_name("work"),
        "resultsQueue": version.queue_name("results"),
        "deadLetterQueue": version.queue_name("deadLetter"),
        "batchSize": version.queue.batch_size,
        "maxReceiveCount": version.queue.max_receive_count,
        "message": {"$ref": f"#/components/schemas/{name}_Message"},
        "result": {"$ref": f"#/components/schemas/{name}_Result"},
    }
    if version.status == "deprecated":
        extension["messageAttributes"] = {
            name: LIFECYCLE_HEADERS[name] for name in (ATTRIBUTE_DEPRECATION, ATTRIBUTE_SUNSET)
        }
    return extension


def render(settings: Settings) -> str:
    """The OpenAPI document of one stack as checked-in JSON text."""
    return canonical_json(build(settings))


def main(argv: Sequence[str]) -> int:
    """Write docs/openapi/<stack>.json for every stack, or with --check fail if one is stale."""
    parser = argparse.ArgumentParser(prog="mlserve openapi", description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a document is out of date")
    args = parser.parse_args(argv)
    return write_or_check(files, "openapi", args.check)


def files() -> Files:
    """The OpenAPI document of every stack."""
    return per_stack(OPENAPI_DIR, ".json", render)
