"""A `--policy-pack-config` file as the engine reconciles and validates it before running any
policy: every policy's enforcement level and properties, checked against its config schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft7Validator
from pulumi.runtime.proto import analyzer_pb2

LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}


class PolicyConfigError(ValueError):
    """A policy pack config the engine would reject before running any policy."""


@dataclass(frozen=True)
class PolicyInfo:
    """A policy as GetAnalyzerInfo describes it."""

    name: str
    description: str
    enforcement_level: str
    kind: str
    remediation_steps: str
    config_schema: dict[str, Any] = field(default_factory=dict)
    required_config: tuple[str, ...] = ()


def reconcile_policy_config(
    policies: Sequence[PolicyInfo],
    initial_config: Mapping[str, Mapping[str, Any]],
    policy_config: Mapping[str, Any] | None,
) -> dict[str, tuple[str, dict[str, Any]]]:
    """(enforcement level, properties) per policy, as the engine's ReconcilePolicyPackConfig
    makes them from the policies' defaults, the pack's initial config and the config file; raises
    PolicyConfigError where the engine would refuse to run (and for unknown policy names, which
    the engine ignores silently, because a typo there would silently switch a check off)."""
    known = {policy.name for policy in policies}
    result: dict[str, tuple[str, dict[str, Any]]] = {
        policy.name: (
            policy.enforcement_level,
            {
                key: schema["default"]
                for key, schema in policy.config_schema.items()
                if isinstance(schema, Mapping) and "default" in schema
            },
        )
        for policy in policies
    }
    for given in (_parse_policy_config(initial_config), _parse_policy_config(policy_config or {})):
        if "all" in given and given["all"][0]:
            result = {name: (str(given["all"][0]), props) for name, (_, props) in result.items()}
        for name, (level, properties) in given.items():
            if name == "all":
                continue
            if name not in known:
                raise PolicyConfigError(
                    f"policy pack config names {name!r}, which is not a policy of the pack "
                    f"(policies: {', '.join(sorted(known))})"
                )
            current_level, current_props = result[name]
            result[name] = (level or current_level, {**current_props, **properties})
    errors = [
        f"{policy.name}: {problem}"
        for policy in policies
        for problem in schema_problems(
            result[policy.name][1],
            {
                "type": "object",
                "properties": policy.config_schema,
                "required": list(policy.required_config),
            },
        )
    ]
    if errors:
        raise PolicyConfigError("policy pack config is invalid:\n  " + "\n  ".join(errors))
    return result


def _parse_policy_config(config: Mapping[str, Any]) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """The engine's parsePolicyPackConfig: a level string, or an object whose `enforcementLevel`
    is split off from the properties."""
    parsed: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for name, value in config.items():
        if isinstance(value, str):
            level: Any = value
            properties: dict[str, Any] = {}
        elif isinstance(value, Mapping):
            properties = dict(value)
            level = properties.pop("enforcementLevel", None)
        else:
            raise PolicyConfigError(f"{name!r}: {value!r} is not a valid value; a string or object")
        if level is not None and level not in LEVEL_VALUES:
            raise PolicyConfigError(f"{name!r}: {level!r} is not a valid enforcement level")
        if level is not None or properties:
            parsed[name] = (level, properties)
    return parsed


def schema_problems(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """What JSON Schema (draft 7, as the engine's validator reads policy schemas) finds wrong
    with a policy's properties, each at its location."""
    return [
        f"{'.'.join(str(part) for part in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(Draft7Validator(schema).iter_errors(value), key=str)
    ]
