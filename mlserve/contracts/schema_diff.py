"""Which changes between two JSON Schemas break a caller: requests must keep accepting what they
accepted, responses must stay readable by old clients."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

Direction = Literal["request", "response"]
PARTS: tuple[Direction, ...] = ("request", "response")

# "integer" is left out because "number" covers it; a schema without "type" allows all of these.
ANY_TYPES = ("null", "boolean", "number", "string", "array", "object")
NUMERIC_KEYWORDS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)
TYPE_KEYWORDS: dict[str, frozenset[str]] = {
    "null": frozenset(),
    "boolean": frozenset(),
    "integer": NUMERIC_KEYWORDS,
    "number": NUMERIC_KEYWORDS,
    "string": frozenset({"minLength", "maxLength", "pattern", "format"}),
    "array": frozenset({"items", "minItems", "maxItems", "uniqueItems"}),
    "object": frozenset(
        {"properties", "required", "additionalProperties", "minProperties", "maxProperties"}
    ),
}
# Keywords that never change which documents are valid.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "discriminator",
        "$comment",
        "$defs",
        "definitions",
        "$schema",
        "$id",
    }
)


@dataclass(frozen=True)
class Finding:
    """One difference between a locked schema and the current one, or a problem the gate found."""

    path: str
    change: str
    breaking: bool
    subject: str = ""
    lock: str = ""
    advice: str = ""

    def __str__(self) -> str:
        text = f"{self.subject}: {self.change}" if self.subject else self.change
        if self.breaking:
            text += " — " + (self.advice or "a breaking change; it needs a new major version")
        return text.rstrip(".") + "."


@dataclass(frozen=True)
class _Context:
    old_root: Mapping[str, Any]
    new_root: Mapping[str, Any]
    direction: Direction


def compare_schemas(
    old: Mapping[str, Any], new: Mapping[str, Any], direction: Direction
) -> list[Finding]:
    """Every change from the old JSON Schema to the new one, each marked breaking or not."""
    return _compare(old, new, "", _Context(old, new, direction), frozenset())


def _finding(ctx: _Context, path: str, change: str, *, narrows: bool, widens: bool) -> Finding:
    # Requests: the new schema must accept all the old one did, so narrowing breaks.
    # Responses: old clients must read all the new one allows, so widening breaks.
    breaking = narrows if ctx.direction == "request" else widens
    return Finding(path, f"{_where(path)} {change}", breaking)


def _unrecognised(path: str, what: str) -> Finding:
    return Finding(path, f"{_where(path)} has an unrecognised change {what}; review by hand", True)


def _where(path: str) -> str:
    return f'field "{path}"' if path else "the model"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    return "none" if value is None else json.dumps(value)


def _compare(
    old: Any, new: Any, path: str, ctx: _Context, seen: frozenset[tuple[Any, Any]]
) -> list[Finding]:
    refs = (_ref_of(old), _ref_of(new))
    if refs != (None, None):
        if refs in seen:
            return []  # a recursive model: this pair is already being compared further up
        seen = seen | {refs}
    old_branches = _branches(old, ctx.old_root)
    new_branches = _branches(new, ctx.new_root)
    old_types = {branch["type"] for branch in old_branches}
    new_types = {branch["type"] for branch in new_branches}
    lost = {t for t in old_types if not _covered(t, new_types)}
    gained = {t for t in new_types if not _covered(t, old_types)}
    findings = []
    if lost | gained == {"null"}:
        change = "changed from nullable to non-nullable" if lost else "became nullable"
        findings.append(_finding(ctx, path, change, narrows=bool(lost), widens=bool(gained)))
    elif lost or gained:
        change = f"type changed from {_types_text(old_types)} to {_types_text(new_types)}"
        findings.append(_finding(ctx, path, change, narrows=bool(lost), widens=bool(gained)))
    for kind in ("null", "boolean", "number", "string", "array", "object"):
        olds = [b for b in old_branches if _kind(b["type"]) == kind]
        news = [b for b in new_branches if _kind(b["type"]) == kind]
        if len(olds) == len(news) == 1:
            findings += _compare_branch(olds[0], news[0], path, ctx, seen)
        elif olds and news:
            findings += _compare_alternatives(olds, news, kind, path, ctx, seen)
    return list(dict.fromkeys(findings))  # a schema without "type" yields one branch per type


def _compare_alternatives(
    olds: list[dict[str, Any]],
    news: list[dict[str, Any]],
    kind: str,
    path: str,
    ctx: _Context,
    seen: frozenset[tuple[Any, Any]],
) -> list[Finding]:
    """Several alternatives of one kind (a union of models): every written shape must fit one."""
    request = ctx.direction == "request"
    writers, readers = (olds, news) if request else (news, olds)
    found: dict[str, Finding] = {}
    for writer in writers:
        fits = []
        for reader in readers:
            old, new = (writer, reader) if request else (reader, writer)
            pair_findings = _compare_branch(old, new, path, ctx, seen)
            if not any(finding.breaking for finding in pair_findings):
                fits.append(pair_findings)
        if not fits:
            return [_unrecognised(path, f"among its {kind} alternatives")]
        found.update((finding.change, finding) for finding in min(fits, key=len))
    return list(found.values())


def _compare_branch(
    old: dict[str, Any],
    new: dict[str, Any],
    path: str,
    ctx: _Context,
    seen: frozenset[tuple[Any, Any]],
) -> list[Finding]:
    """Compare two alternatives of the same kind, keyword by keyword."""
    kind = _kind(old["type"])
    known = {"type", "enum"} | ANNOTATIONS | TYPE_KEYWORDS[old["type"]] | TYPE_KEYWORDS[new["type"]]
    findings = _compare_enum(old, new, path, ctx)
    if kind == "number":
        if _plain_numbers(old) and _plain_numbers(new):
            findings += _compare_numbers(old, new, path, ctx)
        else:
            known -= NUMERIC_KEYWORDS
    elif kind == "string":
        findings += _compare_limits(old, new, ("minLength", "maxLength"), path, ctx)
        findings += _compare_patterns(old, new, ("pattern", "format"), path, ctx)
    elif kind == "array":
        findings += _compare_limits(old, new, ("minItems", "maxItems"), path, ctx)
        if old.get("uniqueItems", False) != new.get("uniqueItems", False):
            unique = bool(new.get("uniqueItems"))
            change = "now requires unique items" if unique else "no longer requires unique items"
            findings.append(_finding(ctx, path, change, narrows=unique, widens=not unique))
        old_items, new_items = old.get("items", True), new.get("items", True)
        if old_items is True and new_items is True:
            pass  # both allow any items; recursing would expand "any" into arrays forever
        elif isinstance(old_items, dict | bool) and isinstance(new_items, dict | bool):
            findings += _compare(old_items, new_items, f"{path}[]", ctx, seen)
        else:
            known.discard("items")
    elif kind == "object":
        findings += _compare_limits(old, new, ("minProperties", "maxProperties"), path, ctx)
        findings += _compare_objects(old, new, path, ctx, seen)
    for key in sorted((old.keys() | new.keys()) - known):
        if _inline(old.get(key), ctx.old_root) != _inline(new.get(key), ctx.new_root):
            findings.append(_unrecognised(path, f'to "{key}"'))
    return findings


def _compare_enum(
    old: dict[str, Any], new: dict[str, Any], path: str, ctx: _Context
) -> list[Finding]:
    old_values: list[Any] | None = old.get("enum")
    new_values: list[Any] | None = new.get("enum")
    if old_values is None and new_values is None:
        return []
    if old_values is None:
        change = f"is now limited to {_values_text(new_values or [])}"
        return [_finding(ctx, path, change, narrows=True, widens=False)]
    if new_values is None:
        change = "is no longer limited to fixed values"
        return [_finding(ctx, path, change, narrows=False, widens=True)]
    old_keys = {_canonical(value) for value in old_values}
    new_keys = {_canonical(value) for value in new_values}
    removed = [value for value in old_values if _canonical(value) not in new_keys]
    added = [value for value in new_values if _canonical(value) not in old_keys]
    findings = []
    if removed:
        change = f"no longer allows {_values_text(removed)}"
        findings.append(_finding(ctx, path, change, narrows=True, widens=False))
    if added:
        change = f"now also allows {_values_text(added)}"
        findings.append(_finding(ctx, path, change, narrows=False, widens=True))
    return findings


def _compare_numbers(
    old: dict[str, Any], new: dict[str, Any], path: str, ctx: _Context
) -> list[Finding]:
    findings = []
    for lower in (True, False):
        old_bound, new_bound = _bound(old, lower), _bound(new, lower)
        narrows = _stricter(new_bound, old_bound, lower)
        widens = _stricter(old_bound, new_bound, lower)
        if narrows or widens:
            side = "lower" if lower else "upper"
            change = (
                f"{side} bound changed from {_bound_text(old_bound, lower)}"
                f" to {_bound_text(new_bound, lower)}"
            )
            findings.append(_finding(ctx, path, change, narrows=narrows, widens=widens))
    old_step, new_step = old.get("multipleOf"), new.get("multipleOf")
    if old_step != new_step:
        change = f"multipleOf changed from {_show(old_step)} to {_show(new_step)}"
        narrows = new_step is not None and (old_step is None or not _divides(new_step, old_step))
        widens = old_step is not None and (new_step is None or not _divides(old_step, new_step))
        findings.append(_finding(ctx, path, change, narrows=narrows, widens=widens))
    return findings


def _compare_limits(
    old: dict[str, Any], new: dict[str, Any], keys: tuple[str, str], path: str, ctx: _Context
) -> list[Finding]:
    """Compare a (minimum, maximum) pair of size keywords such as minItems and maxItems."""
    findings = []
    for key, unset in zip(keys, (0, math.inf), strict=True):
        old_limit, new_limit = old.get(key), new.get(key)
        if old_limit == new_limit:
            continue
        old_value = unset if old_limit is None else old_limit
        new_value = unset if new_limit is None else new_limit
        narrows = new_value > old_value if key.startswith("min") else new_value < old_value
        change = f"{key} changed from {_show(old_limit)} to {_show(new_limit)}"
        findings.append(_finding(ctx, path, change, narrows=narrows, widens=not narrows))
    return findings


def _compare_patterns(
    old: dict[str, Any], new: dict[str, Any], keys: tuple[str, ...], path: str, ctx: _Context
) -> list[Finding]:
    """Compare keywords such as pattern whose values cannot be ordered: any change may break."""
    findings = []
    for key in keys:
        old_value, new_value = old.get(key), new.get(key)
        if old_value != new_value:
            change = f"{key} changed from {_show(old_value)} to {_show(new_value)}"
            narrows, widens = new_value is not None, old_value is not None
            findings.append(_finding(ctx, path, change, narrows=narrows, widens=widens))
    return findings


def _compare_objects(
    old: dict[str, Any],
    new: dict[str, Any],
    path: str,
    ctx: _Context,
    seen: frozenset[tuple[Any, Any]],
) -> list[Finding]:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    old_extra = old.get("additionalProperties", True)
    new_extra = new.get("additionalProperties", True)
    names = dict.fromkeys([*old_props, *old_required, *new_props, *new_required])
    findings = []
    for name in names:
        field_path = _join(path, name)
        old_schema, new_schema = old_props.get(name, old_extra), new_props.get(name, new_extra)
        was_required, is_required = name in old_required, name in new_required
        if old_schema is False and new_schema is False:
            continue
        if old_schema is False:
            change = f"was added as {'a required' if is_required else 'an optional'} field"
            findings.append(_finding(ctx, field_path, change, narrows=is_required, widens=True))
        elif new_schema is False:
            change = "was removed" + (" (it was required)" if was_required else "")
            findings.append(_finding(ctx, field_path, change, narrows=True, widens=was_required))
        elif name not in old_props and old_extra is True:
            narrows = is_required or _restricts(new_schema)
            change = "was added to an open model, which accepted any value under that name"
            findings.append(_finding(ctx, field_path, change, narrows=narrows, widens=False))
        elif name not in new_props and new_extra is True:
            # An open response model lets old clients ignore new fields; it does not mean the
            # server sends arbitrary values, so dropping a field only breaks readers needing it.
            change = "was removed" + (" (it was required)" if was_required else "")
            findings.append(_finding(ctx, field_path, change, narrows=False, widens=was_required))
        else:
            if was_required != is_required:
                change = (
                    "changed from optional to required"
                    if is_required
                    else "changed from required to optional"
                )
                findings.append(
                    _finding(ctx, field_path, change, narrows=is_required, widens=was_required)
                )
            if name in old_props and name in new_props:
                findings += _compare_defaults(old_props[name], new_props[name], field_path)
            findings += _compare(old_schema, new_schema, field_path, ctx, seen)
    if old_extra is False and new_extra is not False:
        findings.append(
            _finding(ctx, path, "now accepts unknown fields", narrows=False, widens=True)
        )
    elif new_extra is False and old_extra is not False:
        findings.append(
            _finding(ctx, path, "now rejects unknown fields", narrows=True, widens=False)
        )
    elif not (old_extra is True and new_extra is True) and old_extra is not False:
        findings += _compare(old_extra, new_extra, _join(path, "*"), ctx, seen)
    return findings


def _compare_defaults(old: Any, new: Any, path: str) -> list[Finding]:
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return []
    missing = object()
    old_default, new_default = old.get("default", missing), new.get("default", missing)
    if old_default == new_default:
        return []
    if new_default is missing:
        change = f"no longer has a default (was {json.dumps(old_default)})"
    elif old_default is missing:
        change = f"now has the default {json.dumps(new_default)}"
    else:
        change = f"default changed from {json.dumps(old_default)} to {json.dumps(new_default)}"
    return [Finding(path, f"{_where(path)} {change}", False)]


def _branches(schema: Any, root: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Split a schema into alternatives that each allow exactly one JSON type."""
    if schema is True:
        schema = {}
    if schema is False or not isinstance(schema, dict):
        return []
    schema = _resolve(schema, root)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            rest = {k: v for k, v in schema.items() if k != key}
            return [{**rest, **b} for sub in schema[key] for b in _branches(sub, root)]
    if isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        inner = schema["allOf"][0]
        return _branches(
            {**rest, **(_resolve(inner, root) if isinstance(inner, dict) else {})}, root
        )
    if "const" in schema:
        schema = {k: v for k, v in schema.items() if k != "const"} | {"enum": [schema["const"]]}
    types = schema.get("type")
    if isinstance(types, str):
        types = [types]
    elif types is None and isinstance(schema.get("enum"), list):
        types = list(dict.fromkeys(_json_type(value) for value in schema["enum"]))
    elif types is None:
        types = list(ANY_TYPES)
    branches = []
    for json_type in types:
        branch = {**schema, "type": json_type}
        if isinstance(schema.get("enum"), list):
            branch["enum"] = [v for v in schema["enum"] if _covered(_json_type(v), {json_type})]
        branches.append(branch)
    return branches


def _resolve(schema: dict[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """Follow local `$ref`s, keeping sibling keywords; an unresolvable `$ref` stays in place."""
    followed: set[str] = set()
    while isinstance(schema.get("$ref"), str) and schema["$ref"] not in followed:
        followed.add(schema["$ref"])
        target = _pointer(root, schema["$ref"])
        if not isinstance(target, dict):
            return schema
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _pointer(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _inline(value: Any, root: Mapping[str, Any], stack: tuple[str, ...] = ()) -> Any:
    """The value with local `$ref`s replaced by what they point to (recursion kept as `$ref`)."""
    if isinstance(value, list):
        return [_inline(item, root, stack) for item in value]
    if not isinstance(value, dict):
        return value
    ref = value.get("$ref")
    if isinstance(ref, str) and ref not in stack and isinstance(_pointer(root, ref), dict):
        rest = {k: v for k, v in value.items() if k != "$ref"}
        return _inline({**_pointer(root, ref), **rest}, root, (*stack, ref))
    return {k: _inline(v, root, stack) for k, v in value.items() if k not in ANNOTATIONS}


def _ref_of(schema: Any) -> str | None:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    return ref if isinstance(ref, str) else None


def _restricts(schema: Any) -> bool:
    """Whether a schema rejects anything at all."""
    return schema is False or (isinstance(schema, dict) and bool(schema.keys() - ANNOTATIONS))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _kind(json_type: str) -> str:
    return "number" if json_type == "integer" else json_type


def _covered(json_type: str, types: set[str]) -> bool:
    return json_type in types or (json_type == "integer" and "number" in types)


def _types_text(types: set[str]) -> str:
    if not types:
        return "nothing"
    if types >= set(ANY_TYPES):
        return "any"
    order = ("null", "boolean", "integer", "number", "string", "array", "object")
    return " or ".join(t for t in order if t in types)


def _values_text(values: list[Any]) -> str:
    return ", ".join(json.dumps(value) for value in values) or "no value"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _plain_numbers(schema: dict[str, Any]) -> bool:
    """Whether every numeric keyword holds a number (not a draft-4 boolean flag)."""
    return all(
        isinstance(schema[key], int | float) and not isinstance(schema[key], bool)
        for key in NUMERIC_KEYWORDS & schema.keys()
    )


def _bound(schema: dict[str, Any], lower: bool) -> tuple[float, bool] | None:
    """The tightest lower or upper bound as (value, exclusive), or None if unbounded."""
    inclusive, exclusive = (
        ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
    )
    bounds = [(schema[key], key == exclusive) for key in (inclusive, exclusive) if key in schema]
    if schema["type"] == "integer":
        # For integers "> 0" and ">= 1" are the same bound; compare them as equal.
        bounds = [
            (_integer_bound(value, is_exclusive, lower), False) for value, is_exclusive in bounds
        ]
    if not bounds:
        return None
    if lower:
        return max(bounds, key=lambda bound: (bound[0], bound[1]))
    return min(bounds, key=lambda bound: (bound[0], not bound[1]))


def _integer_bound(value: float, exclusive: bool, lower: bool) -> int:
    """The inclusive integer bound equal to an integer schema's (possibly exclusive) bound."""
    if lower:
        return math.floor(value) + 1 if exclusive else math.ceil(value)
    return math.ceil(value) - 1 if exclusive else math.floor(value)


def _stricter(
    bound: tuple[float, bool] | None, other: tuple[float, bool] | None, lower: bool
) -> bool:
    """Whether `bound` excludes some number that `other` allows."""
    if bound is None:
        return False
    if other is None:
        return True
    beyond = bound[0] > other[0] if lower else bound[0] < other[0]
    return beyond or (bound[0] == other[0] and bound[1] and not other[1])


def _bound_text(bound: tuple[float, bool] | None, lower: bool) -> str:
    if bound is None:
        return "none"
    return f"{'>' if lower else '<'}{'' if bound[1] else '='} {json.dumps(bound[0])}"


def _divides(step: float, value: float) -> bool:
    """Whether `value` is a whole multiple of `step`."""
    return Fraction(str(value)) % Fraction(str(step)) == 0
