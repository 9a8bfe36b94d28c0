"""Builders for the policy unit tests: resources and arguments shaped exactly as pulumi-policy
hands them to validators (proxied props that raise on unknown values), and the stack config the
engine would put in PULUMI_CONFIG (tests/unit/test_policy_support.py checks them)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
UNKNOWN = UNKNOWN_STRING_VALUE  # what the engine sends for a value computed during the update
FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
PERMISSION = "aws:lambda/permission:Permission"
ROUTE = "aws:apigatewayv2/route:Route"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
STACK = "pulumi:pulumi:Stack"
PROD_SERVICES: dict[str, Any] = {
    "churn": {
        "versions": {
            "v1": {
                "code": "services/churn/v1",
                "status": "deprecated",
                "deprecatedOn": "2026-09-01",
                "sunsetOn": "2027-06-30",
                "successor": "v2",
            },
            "v2": {"code": "services/churn/v2", "status": "active"},
        }
    }
}


def pack_module(name: str) -> ModuleType:
    """A module of the policy pack, imported the way the engine's runner imports it (top-level,
    with the pack folder on sys.path)."""
    if str(PACK_DIR) not in sys.path:
        sys.path.insert(0, str(PACK_DIR))
    return importlib.import_module(name)


def engine_config(
    services: Mapping[str, Any] | None = None,
    *,
    environment: str | None = "prod",
    name_prefix: str | None = None,
    window: int | None = None,
) -> dict[str, str]:
    """A stack config as the engine hands it over: strings, objects JSON-encoded."""
    config = {"aws:region": "us-east-1", "mlserve:services": json.dumps(services or PROD_SERVICES)}
    if environment is not None:
        config["mlserve:environment"] = environment
    if name_prefix is not None:
        config["mlserve:namePrefix"] = name_prefix
    if window is not None:
        config["mlserve:deprecationWindowDays"] = str(window)
    return config


def use_stack_config(
    monkeypatch: pytest.MonkeyPatch, config: Mapping[str, str], stack: str = "prod"
) -> None:
    """Give the pack this stack config, as the engine does through the environment."""
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(dict(config)))
    monkeypatch.setenv("PULUMI_STACK", stack)


def _options(protect: bool, ignore_changes: list[str] | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect, list(ignore_changes or []), None, [], PolicyCustomTimeouts(0, 0, 0), [], None
    )


def resource_args(
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str = "resource",
    protect: bool = False,
    config: Mapping[str, Any] | None = None,
) -> ResourceValidationArgs:
    """The arguments pulumi-policy's Analyze builds for one resource."""
    return ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(json.loads(json.dumps(dict(props)))),
        f"urn:pulumi:prod::mlserve::{resource_type}::{name}",
        name,
        _options(protect),
        None,
        dict(config) if config is not None else None,
    )


def stack_resource(
    resource_type: str,
    props: Mapping[str, Any],
    *,
    name: str,
    protect: bool = False,
    ignore_changes: list[str] | None = None,
) -> PolicyResource:
    """One resource of an AnalyzeStack request (outputs, no id)."""
    return PolicyResource(
        resource_type,
        unknown_checking_proxy(json.loads(json.dumps(dict(props)))),
        f"urn:pulumi:prod::mlserve::{resource_type}::{name}",
        name,
        _options(protect, ignore_changes),
        None,
        None,
        [],
        {},
    )


def link(resource: PolicyResource, prop: str, *targets: PolicyResource) -> PolicyResource:
    """Record that `prop` of `resource` was computed from `targets` (property dependencies)."""
    resource.property_dependencies[prop] = list(targets)
    resource.dependencies.extend(targets)
    return resource


def check(
    policy: ResourceValidationPolicy | StackValidationPolicy,
    args: ResourceValidationArgs | StackValidationArgs,
) -> list[str]:
    """The messages a policy reports; UnknownValueError propagates as in the real servicer."""
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    policy.validate(args, report)  # type: ignore[arg-type]
    return messages


def stack_args(
    resources: list[PolicyResource], config: Mapping[str, Any] | None = None
) -> StackValidationArgs:
    """The arguments pulumi-policy's AnalyzeStack builds."""
    return StackValidationArgs(resources, dict(config) if config is not None else None)


def version_function(
    service: str,
    version: str,
    *,
    prefix: str = "",
    lifecycle: str = "active",
    environment: str = "prod",
    variables: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The props of a version function as VersionedFunction makes them."""
    return {
        "name": f"{prefix}{service}_{version}",
        "publish": True,
        "tracingConfig": {"mode": "Active"},
        "tags": {
            "mlserve:service": service,
            "mlserve:api-version": version,
            "mlserve:lifecycle": lifecycle,
            "mlserve:environment": environment,
        },
        "environment": {
            "variables": {
                "MLSERVE_SERVICE": service,
                "MLSERVE_VERSION": version,
                "MLSERVE_LIFECYCLE": lifecycle,
                **(variables or {}),
            }
        },
    }
