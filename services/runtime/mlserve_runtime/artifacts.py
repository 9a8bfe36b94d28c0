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


def contract_hash(request_model: Any, response_model: Any) -> str:
    """`sha256:<hex>` of the canonical JSON (sorted keys, no whitespace) of
    `{"request": <validation schema>, "response": <serialization schema>}`."""
    schemas = {
        "request": request_model.model_json_schema(mode="validation"),
        "response": response_model.model_json_schema(mode="serialization"),
    }
    canonical = json.dumps(schemas, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
