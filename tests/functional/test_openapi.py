"""OpenAPI 3.1 per stack: valid per a real validator, complete, and honest about deprecation."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mlserve import openapi
from mlserve.stack_files import stack_settings


@pytest.fixture(scope="module", params=["prod", "dev"])
def document(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, openapi.build(stack_settings(request.param))


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Operations by route key, e.g. `POST /churn/v2/predict`."""
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


def test_given_stack_when_generated_then_a_real_validator_accepts_it(
    document: tuple[str, dict[str, Any]],
) -> None:
    _, spec = document
    validate(spec)  # raises on any violation of the OpenAPI 3.1 schema
    assert spec["openapi"] == "3.1.0"


def test_given_stack_when_generated_then_every_route_has_an_operation(
    document: tuple[str, dict[str, Any]],
) -> None:
    stack, spec = document
    settings = stack_settings(stack)
    expected = {
        f"{route.method} {version.base_path}{route.path}"
        for service in settings.services.values()
        for version in service.deployed_versions
        for route in version.all_routes
    }
    assert set(operations(spec)) == expected


def test_given_deprecated_version_when_generated_then_operations_say_so_with_sunset(
    document: tuple[str, dict[str, Any]],
) -> None:
    _, spec = document
    for key, operation in operations(spec).items():
        if key.split(" ")[1].startswith("/churn/v1/"):
            assert operation["deprecated"] is True
            assert "2027-06-30" in operation["description"]
            assert "/churn/v2" in operation["description"]
            assert set(operation["responses"]["200"]["headers"]) == {
                "Deprecation",
                "Sunset",
                "Link",
            }
        else:
            assert "deprecated" not in operation


def test_given_predict_operation_when_generated_then_bodies_reference_the_contract(
    document: tuple[str, dict[str, Any]],
) -> None:
    _, spec = document
    predict = operations(spec)["POST /churn/v2/predict"]
    request_ref = predict["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = request_ref.rsplit("/", 1)[1]
    schema = spec["components"]["schemas"][name]
    assert schema["additionalProperties"] is False  # requests are closed
    assert "400" in predict["responses"]
    refs = [value for value in _walk(spec) if isinstance(value, str) and value.startswith("#/")]
    assert all(ref.startswith("#/components/schemas/") for ref in refs)
    assert all(ref.rsplit("/", 1)[1] in spec["components"]["schemas"] for ref in refs)


def test_given_iam_service_when_generated_then_its_operations_require_sigv4() -> None:
    spec = openapi.build(stack_settings("prod"))
    ops = operations(spec)
    assert ops["POST /sentiment/v2/predict"]["security"] == [{"sigv4": []}]
    assert "security" not in ops["POST /churn/v2/predict"]
    assert spec["servers"] == [{"url": "https://models.example.com"}]


def test_given_checked_in_documents_when_checked_then_they_are_current() -> None:
    assert openapi.main(["--check"]) == 0


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [item for key, v in value.items() for item in [key, *_walk(v)]]
    if isinstance(value, list):
        return [item for v in value for item in _walk(v)]
    return [value]


def test_given_queue_version_when_generated_then_its_message_contract_is_documented(
    document: tuple[str, dict[str, Any]],
) -> None:
    # GIVEN each queue version of the stack and its route's example request
    stack, spec = document
    queued = [v for v in stack_settings(stack).deployed_versions() if v.queue is not None]
    found = operations(spec)
    with_extension = {key for key, op in found.items() if "x-mlserve-queue" in op}
    assert with_extension == {
        f"{v.queue_route.method} {v.base_path}{v.queue_route.path}"  # type: ignore[union-attr]
        for v in queued
    }
    registry = Registry().with_resource("doc", Resource.from_contents(spec, DRAFT202012))
    for version in queued:
        route = version.queue_route
        assert route is not None and version.surface is not None
        extension = found[f"{route.method} {version.base_path}{route.path}"]["x-mlserve-queue"]
        assert (extension["workQueue"], extension["resultsQueue"]) == (
            version.queue_name("work"), version.queue_name("results"))  # fmt: skip
        assert ("messageAttributes" in extension) == (version.status == "deprecated")
        # THEN the documented message schema takes a real message and refuses a bad one
        message = Draft202012Validator({"$ref": "doc" + extension["message"]["$ref"]},
                                       registry=registry)  # fmt: skip
        request = version.surface["routes"][route.key]["example"]
        assert message.is_valid({"id": "a", "request": request})
        assert not message.is_valid({"id": "a", "request": request, "extra": 1})
        assert not message.is_valid({"request": request})
        result = Draft202012Validator({"$ref": "doc" + extension["result"]["$ref"]},
                                      registry=registry)  # fmt: skip
        problem = {"title": "Invalid message", "status": 400}
        assert result.is_valid({"id": "a", "version": version.key, "problem": problem})
        assert not result.is_valid({"id": "a"})
