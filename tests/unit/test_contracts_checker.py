"""The compatibility checker: one schema change per case, each compatible or breaking."""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, create_model

from mlserve.contracts import Direction, breaking_changes, compare_schemas


def model(
    name: str = "Model", extra: Literal["forbid", "allow", "ignore"] = "forbid", /, **fields: Any
) -> type[BaseModel]:
    """A pydantic model built the way contract.py files are written."""
    return create_model(name, __config__=ConfigDict(extra=extra), **fields)


def request(**fields: Any) -> dict[str, Any]:
    """Request schema of a closed model, as the lock command produces it."""
    return model(**fields).model_json_schema(mode="validation")


def open_request(**fields: Any) -> dict[str, Any]:
    """Request schema of a model that ignores unknown fields (pydantic's default)."""
    return model("Model", "ignore", **fields).model_json_schema(mode="validation")


def response(**fields: Any) -> dict[str, Any]:
    """Response schema of an open model, as the lock command produces it."""
    return model("Model", "allow", **fields).model_json_schema(mode="serialization")


def closed_response(**fields: Any) -> dict[str, Any]:
    """Response schema of a closed model."""
    return model("Model", "forbid", **fields).model_json_schema(mode="serialization")


def plan(*members: str) -> type[Enum]:
    """An Enum named Plan, so old and new schemas both use `$defs/Plan`."""
    return Enum("Plan", {member: member for member in members}, type=str)  # type: ignore[return-value]


def features(**fields: Any) -> type[BaseModel]:
    """A closed nested model named Features (referenced through `$defs`)."""
    return model("Features", **fields)


def raw(field: dict[str, Any]) -> dict[str, Any]:
    """A hand-written closed JSON Schema with one required field `a`."""
    return {
        "type": "object",
        "properties": {"a": field},
        "required": ["a"],
        "additionalProperties": False,
    }


class IntTree(BaseModel):
    """A recursive model: a value and subtrees of the same model."""

    value: int
    children: list[IntTree] = []


class BoolTree(BaseModel):
    """IntTree with a boolean value."""

    value: bool
    children: list[BoolTree] = []


def pet_union(cat_extra: dict[str, Any]) -> dict[str, Any]:
    """A request with `pet: Cat | Dog`, two object alternatives of one field."""
    cat = model("Cat", kind=(Literal["cat"], ...), lives=(int, ...), **cat_extra)
    dog = model("Dog", kind=(Literal["dog"], ...), good=(bool, ...))
    return request(pet=(cat | dog, ...))


REQ: Direction = "request"
RESP: Direction = "response"
INT = (int, ...)
OPT_INT = (int | None, None)
BREAKS, OK = True, False


def case(
    reason: str,
    direction: Direction,
    old: dict[str, Any],
    new: dict[str, Any],
    breaking: bool,
    path: str | None,
) -> Any:
    """One row of the table; `path` is the field the change must be reported at (None: no
    finding at all)."""
    return pytest.param(direction, old, new, breaking, path, id=reason)


# The table is kept one row per case by hand: the formatter would spread each row over 8 lines.
# fmt: off
CASES = [
    case("request: adding an optional field is compatible", REQ,
         request(a=INT), request(a=INT, b=OPT_INT), OK, "b"),
    case("request: adding a required field breaks", REQ,
         request(a=INT), request(a=INT, b=INT), BREAKS, "b"),
    case("request: optional field made required breaks", REQ,
         request(a=OPT_INT), request(a=(int | None, ...)), BREAKS, "a"),
    case("request: required field made optional is compatible", REQ,
         request(a=(int | None, ...)), request(a=OPT_INT), OK, "a"),
    case("request: removing a field from a closed model breaks", REQ,
         request(a=INT, b=OPT_INT), request(a=INT), BREAKS, "b"),
    case("request: removing a field from an open model is compatible", REQ,
         open_request(a=INT, b=OPT_INT), open_request(a=INT), OK, "b"),
    case("request: a typed field added to an open model breaks (it accepted anything)", REQ,
         open_request(a=INT), open_request(a=INT, b=OPT_INT), BREAKS, "b"),
    case("request: closing a model (extra=forbid) breaks", REQ,
         open_request(a=INT), request(a=INT), BREAKS, ""),
    case("request: int widened to float is compatible", REQ,
         request(a=INT), request(a=(float, ...)), OK, "a"),
    case("request: float narrowed to int breaks", REQ,
         request(a=(float, ...)), request(a=INT), BREAKS, "a"),
    case("request: union narrowed from int|str to int breaks", REQ,
         request(a=(int | str, ...)), request(a=INT), BREAKS, "a"),
    case("request: Optional dropped (null no longer accepted) breaks", REQ,
         request(a=OPT_INT), request(a=(int, 0)), BREAKS, "a"),
    case("request: made Optional (null now accepted) is compatible", REQ,
         request(a=(int, 0)), request(a=OPT_INT), OK, "a"),
    case("request: minimum raised breaks", REQ,
         request(a=(int, Field(ge=0))), request(a=(int, Field(ge=1))), BREAKS, "a"),
    case("request: minimum lowered is compatible", REQ,
         request(a=(int, Field(ge=1))), request(a=(int, Field(ge=0))), OK, "a"),
    case("request: maximum lowered breaks", REQ,
         request(a=(float, Field(le=10))), request(a=(float, Field(le=9.5))), BREAKS, "a"),
    case("request: inclusive minimum made exclusive breaks", REQ,
         request(a=(float, Field(ge=0))), request(a=(float, Field(gt=0))), BREAKS, "a"),
    case("request: exclusive maximum made inclusive is compatible", REQ,
         request(a=(float, Field(lt=1))), request(a=(float, Field(le=1))), OK, "a"),
    case("request: for integers gt=0 and ge=1 are the same bound (no finding)", REQ,
         request(a=(int, Field(gt=0))), request(a=(int, Field(ge=1))), OK, None),
    case("request: multiple_of made finer is compatible", REQ,
         request(a=(float, Field(multiple_of=0.5))),
         request(a=(float, Field(multiple_of=0.25))), OK, "a"),
    case("request: Literal narrowed breaks", REQ,
         request(a=(Literal["x", "y"], ...)), request(a=(Literal["x"], ...)), BREAKS, "a"),
    case("request: Literal widened is compatible", REQ,
         request(a=(Literal["x"], ...)), request(a=(Literal["x", "y"], ...)), OK, "a"),
    case("request: Enum member removed behind $ref breaks", REQ,
         request(plan=(plan("basic", "pro"), ...)), request(plan=(plan("basic"), ...)),
         BREAKS, "plan"),
    case("request: string max_length lowered breaks", REQ,
         request(a=(str, Field(max_length=20))), request(a=(str, Field(max_length=10))),
         BREAKS, "a"),
    case("request: pattern added breaks", REQ,
         request(a=(str, ...)), request(a=(str, Field(pattern="^[a-z]+$"))), BREAKS, "a"),
    case("request: pattern removed is compatible", REQ,
         request(a=(str, Field(pattern="^[a-z]+$"))), request(a=(str, ...)), OK, "a"),
    case("request: array min_length raised breaks", REQ,
         request(texts=(list[str], Field(min_length=1))),
         request(texts=(list[str], Field(min_length=2))), BREAKS, "texts"),
    case("request: array max_length lowered breaks", REQ,
         request(texts=(list[str], Field(max_length=32))),
         request(texts=(list[str], Field(max_length=16))), BREAKS, "texts"),
    case("request: array item type changed breaks", REQ,
         request(texts=(list[str], ...)), request(texts=(list[int], ...)), BREAKS, "texts[]"),
    case("request: nested field made required breaks", REQ,
         request(features=(features(tenure_months=OPT_INT), ...)),
         request(features=(features(tenure_months=(int | None, ...)), ...)),
         BREAKS, "features.tenure_months"),
    case("request: nested optional field added is compatible", REQ,
         request(features=(features(tenure_months=OPT_INT), ...)),
         request(features=(features(tenure_months=OPT_INT, channel=(str, "web")), ...)),
         OK, "features.channel"),
    case("request: field in an array of objects made required breaks", REQ,
         request(rows=(list[features(x=OPT_INT)], ...)),  # type: ignore[misc]
         request(rows=(list[features(x=(int | None, ...))], ...)),  # type: ignore[misc]
         BREAKS, "rows[].x"),
    case("request: dict value type narrowed breaks", REQ,
         request(weights=(dict[str, float], ...)), request(weights=(dict[str, int], ...)),
         BREAKS, "weights.*"),
    case("request: optional field added to one model of a union is compatible", REQ,
         pet_union({}), pet_union({"nickname": (str, "")}), OK, "pet.nickname"),
    case("request: required field added to one model of a union breaks", REQ,
         pet_union({}), pet_union({"nickname": (str, ...)}), BREAKS, "pet"),
    case("response: adding a field to an open model is compatible", RESP,
         response(a=INT), response(a=INT, b=(str, ...)), OK, "b"),
    case("response: adding a field to a closed model breaks", RESP,
         closed_response(a=INT), closed_response(a=INT, b=(str, ...)), BREAKS, "b"),
    case("response: removing a required field breaks", RESP,
         response(a=INT, b=(str, ...)), response(a=INT), BREAKS, "b"),
    case("response: removing an optional field is compatible", RESP,
         response(a=INT, b=(str, "")), response(a=INT), OK, "b"),
    case("response: renaming a field breaks", RESP,
         response(probability=(float, ...)), response(score=(float, ...)), BREAKS, "probability"),
    case("response: changing a field's type breaks", RESP,
         response(label=(str, ...)), response(label=INT), BREAKS, "label"),
    case("response: required field made optional breaks (it may be missing)", RESP,
         response(label=(str, ...)), response(label=(str, "none")), BREAKS, "label"),
    case("response: field made nullable breaks", RESP,
         response(label=(str, ...)), response(label=(str | None, ...)), BREAKS, "label"),
    case("response: enum widened breaks (old clients cannot parse it)", RESP,
         response(label=(Literal["churn", "stay"], ...)),
         response(label=(Literal["churn", "stay", "unsure"], ...)), BREAKS, "label"),
    case("response: enum narrowed is compatible", RESP,
         response(label=(Literal["churn", "stay"], ...)),
         response(label=(Literal["churn"], ...)), OK, "label"),
    case("response: numeric range narrowed is compatible", RESP,
         response(p=(float, Field(ge=0))), response(p=(float, Field(ge=0, le=1))), OK, "p"),
    case("response: numeric range widened breaks", RESP,
         response(p=(float, Field(ge=0, le=1))), response(p=(float, Field(ge=0))), BREAKS, "p"),
    case("response: float narrowed to int is compatible", RESP,
         response(p=(float, ...)), response(p=INT), OK, "p"),
    case("response: array items made nullable breaks", RESP,
         response(labels=(list[str], ...)), response(labels=(list[str | None], ...)),
         BREAKS, "labels[]"),
    case("response: field added to a closed nested model breaks", RESP,
         response(f=(features(x=INT), ...)), response(f=(features(x=INT, y=INT), ...)),
         BREAKS, "f.y"),
    case("raw: type list loses null in a request breaks", REQ,
         raw({"type": ["integer", "null"]}), raw({"type": "integer"}), BREAKS, "a"),
    case("raw: const changed in a request breaks", REQ,
         raw({"const": "v1"}), raw({"const": "v2"}), BREAKS, "a"),
    case("raw: a change to an unknown keyword is breaking (review by hand)", REQ,
         raw({"type": "integer", "not": {"const": 1}}),
         raw({"type": "integer", "not": {"const": 2}}), BREAKS, "a"),
    case("raw: a change inside allOf is breaking (review by hand)", REQ,
         raw({"allOf": [{"type": "integer"}, {"minimum": 0}]}),
         raw({"allOf": [{"type": "integer"}, {"minimum": 1}]}), BREAKS, "a"),
    case("raw: $ref target widened in a request is compatible", REQ,
         raw({"$ref": "#/$defs/A"}) | {"$defs": {"A": {"type": "integer"}}},
         raw({"$ref": "#/$defs/A"}) | {"$defs": {"A": {"type": "number"}}}, OK, "a"),
    case("raw: recursive $ref model is compared without looping", REQ,
         IntTree.model_json_schema(), BoolTree.model_json_schema(), BREAKS, "value"),
]
# fmt: on


@pytest.mark.parametrize(("direction", "old", "new", "breaking", "path"), CASES)
def test_schema_change(
    direction: Direction, old: dict[str, Any], new: dict[str, Any], breaking: bool, path: str | None
) -> None:
    # GIVEN an old and a new schema that differ in one way
    # WHEN the new one is compared with the old one
    findings = compare_schemas(old, new, direction)
    # THEN the change is found at the right field and is breaking exactly when the case says so
    if path is None:
        assert findings == []
        return
    assert path in {finding.path for finding in findings}, [str(f) for f in findings]
    assert any(finding.breaking for finding in findings) is breaking, [str(f) for f in findings]


@pytest.mark.parametrize(("direction", "old", "new", "breaking", "path"), CASES)
def test_schema_compared_with_itself_has_no_findings(
    direction: Direction, old: dict[str, Any], new: dict[str, Any], breaking: bool, path: str | None
) -> None:
    # GIVEN any schema from the table WHEN it is compared with itself THEN nothing is reported
    assert compare_schemas(old, old, direction) == []
    assert compare_schemas(new, new, direction) == []


def test_breaking_finding_names_the_field_and_asks_for_a_new_major() -> None:
    # GIVEN a nested request field that goes from optional to required
    old = request(features=(features(tenure_months=OPT_INT), ...))
    new = request(features=(features(tenure_months=(int | None, ...)), ...))
    # WHEN compared
    messages = [str(f) for f in compare_schemas(old, new, "request") if f.breaking]
    # THEN the message says which field, what changed, and that it needs a new major version
    assert messages == [
        'field "features.tenure_months" changed from optional to required'
        " — a breaking change; it needs a new major version."
    ]


def test_unknown_keyword_is_reported_as_unrecognised() -> None:
    # GIVEN a keyword the checker has no rule for WHEN its value changes
    old, new = raw({"type": "string", "contentEncoding": "base64"}), raw({"type": "string"})
    findings = compare_schemas(old, new, "request")
    # THEN it is breaking and says to review by hand, rather than passing silently
    assert [f.change for f in findings] == [
        'field "a" has an unrecognised change to "contentEncoding"; review by hand'
    ]
    assert findings[0].breaking


def test_transitive_check_catches_a_change_only_an_earlier_lock_forbids() -> None:
    # GIVEN v2 lock 1 with an optional response field, lock 2 without it, and a current
    # contract that brings the field back with another type
    lock_1 = {"request": request(), "response": response(p=(float, ...), label=(str, ""))}
    lock_2 = {"request": request(), "response": response(p=(float, ...))}
    current = {"request": request(), "response": response(p=(float, ...), label=(int, 0))}
    assert not any(
        f.breaking for f in compare_schemas(lock_1["response"], lock_2["response"], RESP)
    )
    assert not any(
        f.breaking for f in compare_schemas(lock_2["response"], current["response"], RESP)
    )
    # WHEN the current contract is checked against the whole lock history
    findings = breaking_changes([("0001.json", lock_1), ("0002.json", lock_2)], current)
    # THEN the type change against lock 1 is reported
    assert [(f.subject, f.path, f.lock) for f in findings] == [
        ("POST /predict response", "label", "0001.json")
    ]


def test_a_change_breaking_several_locks_is_reported_once_against_the_newest() -> None:
    # GIVEN two identical locks and a current request that adds a required field
    lock = {"request": request(a=(int, ...)), "response": response()}
    current = {"request": request(a=(int, ...), b=(int, ...)), "response": response()}
    # WHEN checked against both
    findings = breaking_changes([("0001.json", lock), ("0002.json", lock)], current)
    # THEN one finding, naming the newest lock
    assert [(f.path, f.lock) for f in findings] == [("b", "0002.json")]


def test_a_route_missing_from_the_current_contract_breaks_every_lock_that_had_it() -> None:
    # GIVEN a lock of two routes and a current contract that dropped one
    lock = {
        "routes": {
            "POST /predict": {"request": request(), "response": response()},
            "POST /explain": {"request": request(), "response": response()},
        }
    }
    current = {"routes": {"POST /predict": lock["routes"]["POST /predict"]}}
    # WHEN checked, THEN the removal is breaking, and adding a route back is not
    (finding,) = breaking_changes([("0001.json", lock)], current)
    assert finding.breaking and "route POST /explain was removed" in str(finding)
    assert breaking_changes([("0001.json", current)], lock) == []


def test_a_route_that_starts_requiring_a_body_breaks_and_one_that_stops_does_not() -> None:
    without = {"routes": {"POST /score": {"request": None, "response": response()}}}
    with_body = {"routes": {"POST /score": {"request": request(), "response": response()}}}
    (finding,) = breaking_changes([("0001.json", without)], with_body)
    assert "now requires a body" in str(finding)
    assert breaking_changes([("0001.json", with_body)], without) == []


@given(old=st.integers(-1000, 1000), new=st.integers(-1000, 1000))
def test_raising_a_minimum_breaks_requests_and_lowering_it_breaks_responses(
    old: int, new: int
) -> None:
    # GIVEN a numeric field whose minimum moves from `old` to `new`
    before, after = raw({"type": "number", "minimum": old}), raw({"type": "number", "minimum": new})
    # WHEN compared in both directions
    request_breaks = any(f.breaking for f in compare_schemas(before, after, "request"))
    response_breaks = any(f.breaking for f in compare_schemas(before, after, "response"))
    # THEN a request breaks when the range narrows, a response when it widens
    assert request_breaks is (new > old)
    assert response_breaks is (new < old)
