"""Decode each Analyze/AnalyzeStack request once for all policies instead of once per policy.

pulumi-policy 1.21 turns the request's protobuf resources into proxied dicts inside its loop over
policies, so every stack policy pays a full decode of the whole stack (about 0.1 ms per resource
here): three stack policies cost three times a one-policy pack before any rule runs. This servicer
runs the same loop over one shared decode. Rules only read what they are given, so sharing it
changes no verdict; tests compare both servicers on the same requests.

It subclasses a private class of pulumi-policy, so it is installed only for the version pinned in
requirements.txt; any other version (or MLSERVE_POLICY_STOCK_DECODING=1) keeps the stock servicer,
which is slower but gives the same results.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from inspect import isawaitable
from typing import Any

import pulumi_policy.policy as policy_module
from google.protobuf import json_format
from pulumi.runtime import proto
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
from pulumi_policy.version import VERSION

SUPPORTED_VERSION = "1.21.0"
STOCK_SWITCH = "MLSERVE_POLICY_STOCK_DECODING"
_Stock: Any = policy_module._PolicyAnalyzerServicer
_NotApplicable: Any = policy_module._NotApplicableError
_PRIVATE = "_PolicyAnalyzerServicer__"


class SharedDecodingServicer(_Stock):  # type: ignore[misc]
    """pulumi-policy's analyzer servicer, decoding each request once for all its policies."""

    def _private(self, name: str) -> Any:
        return getattr(self, _PRIVATE + name)

    def Analyze(self, request: Any, _context: Any) -> Any:  # noqa: N802 - the gRPC method name
        """Run every resource policy on one resource, decoded once."""
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        shared: tuple[Any, Any, Any] | None = None
        for policy in self._private("policies"):
            level = self._get_enforcement_level(policy)
            if level == EnforcementLevel.DISABLED or not isinstance(
                policy, ResourceValidationPolicy
            ):
                continue
            if not policy.has_validation():
                response.not_applicable.append(
                    proto.PolicyNotApplicable(
                        policy_name=policy.name, reason="Policy does not implement validate"
                    )
                )
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            report_violation = self._create_report_violation(
                response, policy.name, policy.description, level, policy.severity
            )
            if shared is None:
                props = unknown_checking_proxy(
                    deserialize_properties(json_format.MessageToDict(request.properties))
                )
                shared = (
                    props,
                    self._get_resource_options(request),
                    self._get_provider_resource(request),
                )
            props, opts, provider = shared
            args = ResourceValidationArgs(
                request.type, props, request.urn, request.name, opts, provider,
                self._get_policy_config(policy.name), self._private("stack_tags"),
            )  # fmt: skip
            self._run(policy, args, report_violation, response)
        return response

    def AnalyzeStack(self, request: Any, _context: Any) -> Any:  # noqa: N802 - the gRPC method name
        """Run every stack policy on the stack's resources, decoded and linked once."""
        with _cyclic_gc_paused():
            return self._analyze_stack(request)

    def _analyze_stack(self, request: Any) -> Any:
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        resources: list[PolicyResource] | None = None
        for policy in self._private("policies"):
            level = self._get_enforcement_level(policy)
            if level == EnforcementLevel.DISABLED or not isinstance(policy, StackValidationPolicy):
                continue
            if level == EnforcementLevel.REMEDIATE:
                level = EnforcementLevel.MANDATORY
            report_violation = self._create_report_violation(
                response, policy.name, policy.description, level, policy.severity
            )
            if resources is None:
                resources = self._decode_stack(request)
            args = StackValidationArgs(
                resources, self._get_policy_config(policy.name), self._private("stack_tags")
            )
            self._run(policy, args, report_violation, response)
        return response

    def _decode_stack(self, request: Any) -> list[PolicyResource]:
        """The request's resources with parents and dependencies linked, as pulumi-policy does."""
        decoded: list[tuple[PolicyResource, Any]] = []
        by_urn: dict[str, PolicyResource] = {}
        for message in request.resources:
            props = unknown_checking_proxy(
                deserialize_properties(json_format.MessageToDict(message.properties))
            )
            resource = PolicyResource(
                message.type, props, message.urn, message.name,
                self._get_resource_options(message), self._get_provider_resource(message),
                None, [], {},
            )  # fmt: skip
            decoded.append((resource, message))
            by_urn[resource.urn] = resource
        for resource, message in decoded:
            if message.parent in by_urn:
                resource.parent = by_urn[message.parent]
            resource.dependencies.extend(
                by_urn[urn] for urn in message.dependencies if urn in by_urn
            )
            for key, dependencies in message.propertyDependencies.items():
                resource.property_dependencies[key] = [
                    by_urn[urn] for urn in dependencies.urns if urn in by_urn
                ]
        return [resource for resource, _ in decoded]

    def _run(self, policy: Any, args: Any, report_violation: Any, response: Any) -> None:
        """Validate, turning unknown values and not-applicable results into what the engine
        expects, exactly as pulumi-policy does."""
        try:
            result = policy.validate(args, report_violation)
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(asyncio.ensure_future(result, loop=loop))
                finally:
                    loop.close()
        except UnknownValueError as error:
            pack, version = self._private("policy_pack_name"), self._private("policy_pack_version")
            response.diagnostics.append(
                proto.AnalyzeDiagnostic(
                    policyName=policy.name,
                    policyPackName=pack,
                    policyPackVersion=version,
                    message=(
                        f"can't run policy '{policy.name}' from policy pack "
                        f"'{pack}@v{version}' during preview: {error.message}"
                    ),
                    urn="",
                    description=policy.description,
                    enforcementLevel=self._map_enforcement_level(EnforcementLevel.ADVISORY),
                )
            )
        except _NotApplicable as error:
            response.not_applicable.append(
                proto.PolicyNotApplicable(policy_name=policy.name, reason=error.reason or "")
            )


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a stack is decoded and checked: the collector would
    rescan the ever-growing set of fresh objects and make a large stack cost more than linear
    (measured: 122 us/resource at 1k and 10k resources without it, 167 us at 10k with it).
    Reference counting still frees everything; the collector resumes after the request."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def install_shared_decoding() -> bool:
    """Make PolicyPack use SharedDecodingServicer; False (stock servicer) when switched off or
    when the installed pulumi-policy is not the version this was checked against."""
    if os.environ.get(STOCK_SWITCH) == "1":
        return False
    if VERSION != SUPPORTED_VERSION:
        print(
            f"mlserve policy pack: pulumi-policy {VERSION} is not {SUPPORTED_VERSION}; "
            "decoding each request once per policy (slower, same results)",
            file=sys.stderr,
        )
        return False
    policy_module._PolicyAnalyzerServicer = SharedDecodingServicer  # type: ignore[misc]
    return True
