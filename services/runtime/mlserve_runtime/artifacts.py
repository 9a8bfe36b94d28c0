"""What identifies a served model: its weights file digest, training date and contract hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelCard:
    """The model behind a version, as the metadata route and v2 responses report it."""

    name: str
    trained_on: str
    digest: str


def load_weights(path: Path) -> tuple[dict[str, Any], ModelCard]:
    """Parse a weights file once; its card carries `sha256:<hex>` of the exact bytes read."""
    raw = path.read_bytes()
    weights = json.loads(raw)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    card = ModelCard(name=weights["model"], trained_on=weights["trained_on"], digest=digest)
    return weights, card


def surface_models(contract: Any) -> dict[str, tuple[Any, Any]]:
    """(request model or None, response model) of every route `contract.SURFACE` declares."""
    resolved = {}
    for route, names in contract.SURFACE["routes"].items():
        request = names.get("request")
        resolved[route] = (
            getattr(contract, request) if request is not None else None,
            getattr(contract, names["response"]),
        )
    return resolved


def contract_schemas(contract: Any) -> dict[str, Any]:
    """A version's contract as the locks keep it: per declared route, the request's validation
    schema (what the server accepts) and the response's serialization schema (what old clients
    must read)."""
    return {
        "routes": {
            route: {
                "request": request.model_json_schema(mode="validation") if request else None,
                "response": response.model_json_schema(mode="serialization"),
            }
            for route, (request, response) in surface_models(contract).items()
        }
    }


def contract_hash(contract: Any) -> str:
    """`sha256:<hex>` of the canonical JSON (sorted keys, no whitespace) of contract_schemas, the
    same text the newest lock of the version holds."""
    canonical = json.dumps(
        contract_schemas(contract), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
