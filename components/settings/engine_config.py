"""From the config the engine hands the program (or a stack file, offline) to validated settings:
one call that reports every problem at once, before any resource is registered."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from components.settings.checks import check_stack
from components.settings.errors import ConfigError, Problems
from components.settings.model import Settings

STRING_KEYS = ("environment", "namePrefix", "promoteFrom")  # kept as written; the rest is JSON
# Linux's MAX_ARG_STRLEN: the most one environment string may hold. The engine hands the whole
# stack config to the policy pack as PULUMI_CONFIG (pulumi/pulumi#20402), so over it the pack
# cannot start ("argument list too long").
ENVIRONMENT_STRING_LIMIT = 128 * 1024
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def parse_settings(
    raw: Mapping[str, Any],
    *,
    stack: str,
    project_root: Path,
    today: date,
    region: str | None = None,
    secret_keys: frozenset[str] = frozenset(),
) -> Settings:
    """Turn the raw `mlserve:*` config (keys without the `mlserve:` prefix) into settings.

    Pure: the stack name, project root, today's date, the stack's AWS region and which keys are
    secrets are arguments, so tests pin them all. Raises ConfigError listing every problem found,
    structural and semantic together; a problem never echoes the value of a secret key.
    """
    problems = Problems(frozenset(secret_keys))
    context = {"problems": problems, "today": today, "project_root": project_root}
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(dict(raw), context=context)
    except ValidationError as error:
        problems.add_validation_error(error, Settings, ())
    if settings is not None:
        settings.bind(
            stack=stack,
            project_root=project_root,
            today=today,
            region=region,
            secret_keys=frozenset(secret_keys),
            warnings=tuple(problems.warnings),
        )
        if not settings.environment_key and not _environment_ok(stack):
            problems.add(
                (),
                f"the stack name {problems.shown(stack, ())} cannot name aliases; set "
                "mlserve:environment (1-32 lowercase letters, digits and '-', e.g. prod)",
            )
        else:
            check_stack(settings, problems)
        settings._warnings = tuple(problems.warnings)
    if problems.problems or settings is None:
        raise ConfigError(problems.problems)
    return settings


def _environment_ok(stack: str) -> bool:
    from mlserve_runtime.conventions import ENVIRONMENT

    return ENVIRONMENT.fullmatch(stack) is not None


def decode_engine_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `mlserve:*` entries of engine config (string values, objects JSON-encoded), decoded."""
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace != "mlserve":
            continue
        if key in STRING_KEYS or not isinstance(value, str):
            raw[key] = value
            continue
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            problems.append(f"{full_key}: not a valid value (JSON expected); check the YAML")
    if problems:
        raise ConfigError(problems)
    return raw


def today_utc() -> date:
    """Today's UTC date, or MLSERVE_TODAY (YYYY-MM-DD) when a preview or test pins the clock."""
    pinned = os.environ.get("MLSERVE_TODAY")
    if not pinned:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(pinned)
    except ValueError:
        raise ConfigError([f"MLSERVE_TODAY: {pinned!r} is not a date; use YYYY-MM-DD"]) from None


def settings_from_engine_config(
    config: Mapping[str, Any],
    *,
    stack: str,
    project_root: Path = PROJECT_ROOT,
    today: date,
    secret_keys: frozenset[str] = frozenset(),
) -> Settings:
    """Settings from config as the engine hands it over (`project:key` -> string, objects
    JSON-encoded), with the stack's AWS region from `aws:region` (else AWS_REGION)."""
    region = config.get("aws:region") or os.environ.get("AWS_REGION")
    settings = parse_settings(
        decode_engine_config(config),
        stack=stack,
        project_root=project_root,
        today=today,
        region=region if isinstance(region, str) else None,
        secret_keys=frozenset(key for key in secret_keys if key.startswith("mlserve:")),
    )
    passed = len(f"PULUMI_CONFIG={json.dumps(dict(config), separators=(',', ':'))}".encode()) + 1
    if passed > ENVIRONMENT_STRING_LIMIT:
        settings._warnings += (
            f"the stack config is {passed / 1024:.0f} KiB as the engine passes it to the policy "
            f"pack (PULUMI_CONFIG), over the {ENVIRONMENT_STRING_LIMIT // 1024} KiB one "
            "environment string may hold on Linux: `pulumi preview --policy-pack` fails there "
            "with 'argument list too long' (pulumi/pulumi#20402). Split the services across "
            "stacks, or drop long optional text (changelog, description) from the config",
        )
    return settings


def load_settings() -> Settings:
    """The running stack's settings; a bad config stops the program with the problem list, before
    any resource is registered, and time-dependent lifecycle notes become warnings."""
    import pulumi
    from pulumi.runtime.config import (
        CONFIG,
        get_config_env,
        get_config_secret_keys_env,
        is_config_secret,
    )

    config = {**get_config_env(), **CONFIG.get()}
    secret_keys = frozenset(
        key for key in config if is_config_secret(key) or key in get_config_secret_keys_env()
    )
    try:
        settings = settings_from_engine_config(
            config, stack=pulumi.get_stack(), today=today_utc(), secret_keys=secret_keys
        )
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    for warning in settings.warnings:
        pulumi.log.warn(warning)
    return settings
