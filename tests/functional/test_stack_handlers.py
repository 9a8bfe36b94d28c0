"""Every route a stack puts on its API is answered by that version's handler, with the function
environment the program sets (so the config's routes and the code cannot drift apart)."""

from __future__ import annotations

import pytest

from mlserve.stack_files import stack_files, stack_settings
from tests.support.events import http_api_event, load_handler

CASES = [
    (stack, version.service, version.key)
    for stack in stack_files()
    for version in stack_settings(stack).deployed_versions()
]


@pytest.mark.parametrize(("stack", "service", "version"), CASES)
def test_given_stack_route_when_invoked_then_the_handler_serves_it(
    stack: str, service: str, version: str
) -> None:
    settings = stack_settings(stack)
    config = settings.services[service]
    version_settings = config.versions[version]
    module = load_handler(service, version, version_settings.variables)
    for route in version_settings.all_routes:
        path = f"{version_settings.base_path}{route.path}"
        event = http_api_event(route.method, path, json_body={} if route.method == "POST" else None)
        response = module.handler(event, None)
        # an empty body may be invalid (400), but the route itself must exist
        assert response["statusCode"] not in (404, 405), (route.key, response)
