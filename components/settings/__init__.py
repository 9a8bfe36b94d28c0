"""The stack config, parsed once: raw `mlserve:*` mapping -> frozen, validated settings.

`model` holds the model family (every key, constraint and default), `checks` the rules across
fields and levels, `errors` how problems are told, `engine_config` the entry points.
"""

from components.settings.checks import INTEGRATION_TIMEOUT_SECONDS
from components.settings.engine_config import (
    decode_engine_config,
    load_settings,
    parse_settings,
    settings_from_engine_config,
    today_utc,
)
from components.settings.errors import ConfigError, key_path
from components.settings.model import (
    ARCHITECTURES,
    DEFAULT_RUNTIME,
    RUNTIMES,
    ApiSettings,
    Consumer,
    Pruning,
    Queue,
    Rollout,
    Route,
    ServiceSettings,
    Settings,
    VersionSettings,
)

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_RUNTIME",
    "INTEGRATION_TIMEOUT_SECONDS",
    "RUNTIMES",
    "ApiSettings",
    "ConfigError",
    "Consumer",
    "Pruning",
    "Queue",
    "Rollout",
    "Route",
    "ServiceSettings",
    "Settings",
    "VersionSettings",
    "decode_engine_config",
    "key_path",
    "load_settings",
    "parse_settings",
    "settings_from_engine_config",
    "today_utc",
]
