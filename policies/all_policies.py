"""Every policy of the pack, in the order the engine runs them."""

from __future__ import annotations

from pulumi_policy import Policy

from ledger import ledger_format_current
from lifecycle import deprecated_versions_announce_sunset
from naming import lambda_alias_name_matches_version, lambda_function_name_matches_version
from observability import api_stage_access_logging, lambda_tracing_active, log_groups_retention_set
from permissions import (
    api_grants_name_own_routes,
    lambda_permissions_scoped,
    no_wildcard_principals,
)
from pins import pinned_versions_exist
from promises import deprecations_keep_their_promises
from promotion import releases_promoted_from_tested_stack
from protection import active_versions_protected
from queues import queue_grants_scoped, queues_feed_their_own_alias
from removal import no_removal_of_non_deprecated_versions
from rollout import rollouts_shift_safely
from routing import api_routes_invoke_own_version, lambda_alias_serves_published_version
from stack_config import mlserve_config_readable
from surface import lambda_code_is_its_version, versions_keep_their_surface
from tagging import lambda_version_tags_required

POLICIES: list[Policy] = [
    mlserve_config_readable,
    lambda_function_name_matches_version,
    lambda_alias_name_matches_version,
    lambda_alias_serves_published_version,
    lambda_code_is_its_version,
    api_routes_invoke_own_version,
    lambda_permissions_scoped,
    api_grants_name_own_routes,
    no_wildcard_principals,
    queue_grants_scoped,
    queues_feed_their_own_alias,
    lambda_version_tags_required,
    active_versions_protected,
    deprecated_versions_announce_sunset,
    no_removal_of_non_deprecated_versions,
    deprecations_keep_their_promises,
    versions_keep_their_surface,
    pinned_versions_exist,
    rollouts_shift_safely,
    releases_promoted_from_tested_stack,
    ledger_format_current,
    lambda_tracing_active,
    log_groups_retention_set,
    api_stage_access_logging,
]
