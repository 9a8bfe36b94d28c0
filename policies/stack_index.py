"""One index of a stack's resources per AnalyzeStack request, shared by the stack policies, so
every lookup is a dict access and a validation stays linear in the number of resources."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pulumi_policy import PolicyResource

from conventions import API_ROUTE_KEY, api_name, public_route_key
from properties import UNKNOWN, Unknown, text
from resources import ALIAS, API, FUNCTION, QUEUE, QUEUE_ARN, function_name_of
from stack_config import StackConfig


@dataclass
class StackIndex:
    """The stack's resources by URN, by type, functions by name and aliases by function and
    name (AnalyzeStack resources carry no id, so names and URNs are how resources relate)."""

    by_urn: dict[str, PolicyResource] = field(default_factory=dict)
    by_type: dict[str, list[PolicyResource]] = field(default_factory=dict)
    functions_by_name: dict[str, PolicyResource] = field(default_factory=dict)
    aliases_by_name: dict[tuple[str, str], PolicyResource] = field(default_factory=dict)
    functions_named_later: int = 0
    """Functions whose name is unknown until the update (preview)."""
    aliases_named_later: int = 0
    """Aliases whose name or function is unknown until the update (preview)."""
    queues_by_name: dict[str, PolicyResource] = field(default_factory=dict)
    queues_named_later: int = 0
    """SQS queues whose name is unknown until the update (preview)."""

    def of_type(self, resource_type: str) -> list[PolicyResource]:
        """The resources of one type, in the order the engine sent them."""
        return self.by_type.get(resource_type, [])


_last: tuple[Sequence[PolicyResource], StackIndex] | None = None


def index_stack(resources: Sequence[PolicyResource]) -> StackIndex:
    """The index of this request's resources; built once even when several policies ask."""
    global _last
    cached = _last
    if cached is not None and cached[0] is resources:
        return cached[1]
    index = StackIndex()
    for resource in resources:
        index.by_urn[resource.urn] = resource
        index.by_type.setdefault(resource.resource_type, []).append(resource)
        if resource.resource_type == FUNCTION:
            name = text(resource.props, "name")
            if isinstance(name, str):
                index.functions_by_name[name] = resource
            elif isinstance(name, Unknown):
                index.functions_named_later += 1
        elif resource.resource_type == ALIAS:
            function = text(resource.props, "functionName")
            name = text(resource.props, "name")
            if isinstance(function, str) and isinstance(name, str):
                index.aliases_by_name[(function_name_of(function), name)] = resource
            elif isinstance(function, Unknown) or isinstance(name, Unknown):
                index.aliases_named_later += 1
        elif resource.resource_type == QUEUE:
            name = text(resource.props, "name")
            if isinstance(name, str):
                index.queues_by_name[name] = resource
            elif isinstance(name, Unknown):
                index.queues_named_later += 1
    _last = (resources, index)
    return index


def linked(resource: PolicyResource, prop: str, resource_type: str) -> list[PolicyResource]:
    """The resources of `resource_type` that property `prop` was computed from; the resource's
    other dependencies when the engine recorded no property dependencies."""
    by_property = [
        dependency
        for dependency in resource.property_dependencies.get(prop, [])
        if dependency.resource_type == resource_type
    ]
    if by_property or resource.property_dependencies.get(prop):
        return by_property
    return [
        dependency
        for dependency in resource.dependencies
        if dependency.resource_type == resource_type
    ]


def source_queue_name(mapping: PolicyResource) -> str | Unknown | None:
    """The name of the SQS queue an event source mapping reads: from its ARN, or while the ARN
    is unknown (preview), from the queue it was computed from; None when it reads no SQS queue."""
    source = text(mapping.props, "eventSourceArn")
    if isinstance(source, str):
        match = QUEUE_ARN.fullmatch(source)
        return match.group(1) if match else None
    if not isinstance(source, Unknown):
        return None
    for queue in linked(mapping, "eventSourceArn", QUEUE):
        name = text(queue.props, "name")
        return name if isinstance(name, str) else UNKNOWN
    return UNKNOWN


def api_service(api: PolicyResource, config: StackConfig) -> str | Unknown | None:
    """The service whose own API this is, by its name `<prefix>mlserve-<environment>-<service>`;
    None for any other API (the stack's single one among them)."""
    name = text(api.props, "name")
    if not isinstance(name, str) or config.environment is None:
        return UNKNOWN if isinstance(name, Unknown) else None
    own = f"{api_name(config.name_prefix, config.environment)}-"
    return (name.removeprefix(own) or None) if name.startswith(own) else None


def route_api(route: PolicyResource) -> PolicyResource | None:
    """The API a route belongs to (from its apiId's dependencies)."""
    apis = linked(route, "apiId", API)
    return apis[0] if apis else None


def public_key(route: PolicyResource, config: StackConfig) -> str | Unknown | None:
    """A route's public key: its key on the single API; on a service's own API (perService) the
    key the custom domain serves it at, `/<service>` before it (`POST /v2/predict` of churn's API
    is `POST /churn/v2/predict`). A key that fits neither form is returned as it is, for the
    routing policy to refuse."""
    key = text(route.props, "routeKey")
    if not isinstance(key, str) or not config.per_service:
        return key
    api = route_api(route)
    service = api_service(api, config) if api is not None else None
    if isinstance(service, Unknown):
        return UNKNOWN
    if service is None or not API_ROUTE_KEY.fullmatch(key):
        return key
    return public_route_key(key, service)
