"""The client's models against the server's contracts: any drift on either side fails here.

Requests must be identical (fields, types, constraints, required, closedness, strictness): the
client rejects exactly what the server rejects. Responses must accept everything the server
declares: every server field known with a type at least as wide, nothing required that the
server may omit, and the model open to fields added later.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest
from mlserve_client import SUPPORTED, SupportedVersion
from mlserve_client._table import REFERENCE_STACK
from pydantic import BaseModel, ConfigDict, Field

from mlserve.offline import PROJECT_ROOT
from mlserve.stack_files import stack_files, stack_settings

SERVICES = PROJECT_ROOT / "services"
CONFIG_KEYS = ("extra", "strict", "allow_inf_nan")
DOC_KEYS = frozenset({"title", "description", "examples", "$defs"})


def load_contract(service: str, version: str) -> ModuleType:
    """A server contract module loaded by path under a name no other test uses."""
    path = SERVICES / service / version / "contract.py"
    name = f"_server_contract_{service.replace('-', '_')}_{version}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves postponed annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def resolved(schema: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with every $ref inlined and the documentation keys dropped."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            target = defs[schema["$ref"].rsplit("/", 1)[1]]
            rest = {key: value for key, value in schema.items() if key != "$ref"}
            return resolved({**target, **rest}, defs)
        return {key: resolved(value, defs) for key, value in schema.items()
                if key not in DOC_KEYS}  # fmt: skip
    if isinstance(schema, list):
        return [resolved(item, defs) for item in schema]
    return schema


def schema_of(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> Any:
    """The model's JSON schema, self-contained and without prose."""
    schema = model.model_json_schema(mode=mode)
    return resolved(schema, schema.get("$defs", {}))


def configs(model: type[BaseModel], where: str = "") -> dict[str, dict[str, Any]]:
    """The acceptance-relevant config of a model and of every model nested in its fields."""
    found = {where or "<root>": {key: model.model_config.get(key) for key in CONFIG_KEYS}}
    for name, field in model.model_fields.items():
        for candidate in _models_in(field.annotation):
            found.update(configs(candidate, f"{where}.{name}".lstrip(".")))
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in getattr(annotation, "__args__", ()) for model in _models_in(arg)]


def acceptance_problems(client: Any, server: Any, where: str = "body") -> list[str]:
    """Why a client schema would reject something valid under the server schema (none: fine)."""
    if client == server or client == {}:
        return []
    problems: list[str] = []
    if "anyOf" in server:
        for branch in server["anyOf"]:
            problems += acceptance_problems(client, branch, where)
        return problems
    if "anyOf" in client:
        if any(not acceptance_problems(branch, server, where) for branch in client["anyOf"]):
            return []
        return [f"{where}: no client alternative accepts {server}"]
    server_values = server.get("enum", [server["const"]] if "const" in server else None)
    client_values = client.get("enum", [client["const"]] if "const" in client else None)
    if server_values is not None and client_values is not None:
        missing = [value for value in server_values if value not in client_values]
        problems += [f"{where}: client rejects values {missing}"] if missing else []
    elif client_values is not None:
        problems.append(f"{where}: client restricts values the server does not")
    client_type, server_type = client.get("type"), server.get("type")
    if client_type != server_type and not (client_type == "number" and server_type == "integer"):
        return [*problems, f"{where}: client type {client_type}, server type {server_type}"]
    for low in ("minimum", "exclusiveMinimum", "minLength", "minItems"):
        if low in client and client[low] > server.get(low, -math.inf):
            problems.append(f"{where}: client {low} {client[low]} > server {server.get(low)}")
    for high in ("maximum", "exclusiveMaximum", "maxLength", "maxItems"):
        if high in client and client[high] < server.get(high, math.inf):
            problems.append(f"{where}: client {high} {client[high]} < server {server.get(high)}")
    if "pattern" in client and client["pattern"] != server.get("pattern"):
        problems.append(f"{where}: client pattern {client['pattern']!r} differs")
    if server_type == "array":
        problems += acceptance_problems(client.get("items", {}), server.get("items", {}),
                                        f"{where}[]")  # fmt: skip
    if server_type == "object":
        client_fields = client.get("properties", {})
        for name, field in server.get("properties", {}).items():
            if name not in client_fields:
                problems.append(f"{where}.{name}: the server sends it, the client lacks it")
            else:
                problems += acceptance_problems(client_fields[name], field, f"{where}.{name}")
        extra_required = set(client.get("required", [])) - set(server.get("required", []))
        if extra_required:
            problems.append(
                f"{where}: client requires {sorted(extra_required)} the server may omit"
            )
        if client.get("additionalProperties") is False:
            problems.append(f"{where}: client model is closed; fields added later would fail")
    return problems


ROWS = [pytest.param(row, id=f"{row.service}-{row.key}") for row in SUPPORTED]


def route_models(row: SupportedVersion) -> list[tuple[str, Any, Any, Any, Any]]:
    """(route, server request, client request, server response, client response) per route the
    version's contract declares; a route without a request body has None for both requests."""
    server = load_contract(row.service, row.key)
    client = importlib.import_module(row.module)
    found = []
    for route, names in server.SURFACE["routes"].items():
        request = names.get("request")
        found.append((
            route,
            getattr(server, request) if request else None,
            getattr(client, request) if request else None,
            getattr(server, names["response"]),
            getattr(client, names["response"]),
        ))  # fmt: skip
    return found


@pytest.mark.parametrize("row", ROWS)
def test_given_supported_version_when_request_schemas_compared_then_identical(
    row: SupportedVersion,
) -> None:
    # GIVEN each declared route's request contract on the server and in the client
    for route, server, client, _, _ in route_models(row):
        if server is None:
            continue
        # WHEN their schemas and acceptance settings are compared
        # THEN they accept exactly the same bodies
        assert schema_of(client, "validation") == schema_of(server, "validation"), route
        assert configs(client) == configs(server), route


@pytest.mark.parametrize("row", ROWS)
def test_given_supported_version_when_response_schemas_compared_then_client_accepts_all(
    row: SupportedVersion,
) -> None:
    # GIVEN what the server's response contract of each route can emit
    for route, _, _, server, client in route_models(row):
        # WHEN the client's response model is checked against it
        problems = acceptance_problems(
            schema_of(client, "validation"), schema_of(server, "serialization")
        )
        # THEN every declared field is accepted and the model stays open
        assert problems == [], route
        assert client.model_config.get("extra") != "forbid", route


class _ServerAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: Literal["churn", "stay", "unsure"]
    probability: float = Field(ge=0, le=1)
    model: str | None = None


class _StrictClient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Literal["churn", "stay"]
    probability: float = Field(ge=0.1, le=1)
    model: str


def test_given_drifted_client_model_when_checked_then_every_drift_reported() -> None:
    # GIVEN a server that added an enum value and an optional field, and a stale, closed client
    # WHEN the acceptance check runs
    problems = acceptance_problems(
        schema_of(_StrictClient, "validation"), schema_of(_ServerAnswer, "serialization")
    )
    # THEN it names each way the client would reject a valid server answer
    text = "\n".join(problems)
    assert "client rejects values ['unsure']" in text
    assert "minimum 0.1" in text
    assert "client requires ['model']" in text
    assert "closed" in text


def test_given_every_stack_when_deployed_versions_listed_then_client_table_matches() -> None:
    # GIVEN the versions the project's stacks deploy, less those the reference stack retired
    stacks = {stack: stack_settings(stack) for stack in stack_files()}
    retired = {
        (version.service, version.major)
        for version in stacks[REFERENCE_STACK].versions()
        if version.status == "retired"
    }
    deployed = {
        (version.service, version.major)
        for settings in stacks.values()
        for version in settings.deployed_versions()
    } - retired
    # WHEN compared with the client's table
    supported = {(row.service, row.major) for row in SUPPORTED}
    # THEN the client supports every deployed major and carries no retired one
    assert supported == deployed


@pytest.mark.parametrize("row", ROWS)
def test_given_table_row_when_module_inspected_then_lifecycle_flag_matches(
    row: SupportedVersion,
) -> None:
    # GIVEN a table row and its version module
    module = importlib.import_module(row.module)
    version_class: Any = next(
        value for value in vars(module).values()
        if isinstance(value, type) and getattr(value, "major", None) == row.major
        and value.__module__ == module.__name__
    )  # fmt: skip
    # WHEN its documentation is read
    flagged = (version_class.__doc__ or "").startswith("Deprecated")
    # THEN a deprecated major says so first thing, and only a deprecated one
    assert flagged == (row.status == "deprecated")
    assert (version_class.service, version_class.major) == (row.service, row.major)
    assert Path(module.__file__ or "").name == f"{row.key}.py"
