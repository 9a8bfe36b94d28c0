"""The project's stack files (`Pulumi.<stack>.yaml`) read as the Pulumi CLI reads them: YAML
errors and duplicate keys are errors with their line and column, `secure:` values are secrets,
and the config reaches the program in the engine's form (strings, objects as JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from components.settings import Settings, settings_from_engine_config, today_utc

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_PLACEHOLDER = "[secret]"  # what a `secure:` value reads as offline (no key to decrypt it)


class StackFileError(ValueError):
    """A stack file that cannot be read, or a stack that does not exist; says where and why."""


@dataclass(frozen=True)
class StackFile:
    """One stack file's config as the engine hands it to the program and the pack."""

    path: Path
    config: dict[str, str]
    secret_keys: tuple[str, ...]


def stack_files(project_root: Path = PROJECT_ROOT) -> dict[str, Path]:
    """Every stack file of the project by stack name."""
    return {
        path.name.removeprefix("Pulumi.").removesuffix(".yaml"): path
        for path in sorted(project_root.glob("Pulumi.*.yaml"))
    }


def stack_path(stack: str, project_root: Path = PROJECT_ROOT) -> Path:
    """The stack file of `stack`; StackFileError listing the known stacks if there is none."""
    files = stack_files(project_root)
    if stack not in files:
        known = ", ".join(files) or "none"
        raise StackFileError(
            f"no stack {stack!r}: there is no Pulumi.{stack}.yaml in {project_root}; known stacks: "
            f"{known}"
        )
    return files[stack]


def read_stack_file(path: Path) -> StackFile:
    """A stack file's config in engine form; StackFileError with `file:line:col:` when the YAML is
    not valid, a key appears twice, or `config` is not a mapping."""
    try:
        document = YAML(typ="safe", pure=True).load(path.read_text())
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = " ".join(str(part) for part in (error.context, error.problem) if part)
        raise StackFileError(f"{where}: {problem.strip() or 'invalid YAML'}") from None
    except YAMLError as error:
        raise StackFileError(f"{path.name}: {error}") from None
    except OSError as error:
        raise StackFileError(f"{path}: {error.strerror}") from None
    document = document or {}
    config = document.get("config") if isinstance(document, Mapping) else None
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise StackFileError(f"{path.name}: `config` must be a mapping of `project:key` entries")
    return StackFile(
        path=path,
        config={str(key): _engine_value(value) for key, value in config.items()},
        secret_keys=tuple(sorted(str(key) for key, value in config.items() if _has_secure(value))),
    )


def stack_config(stack: str, project_root: Path = PROJECT_ROOT) -> dict[str, str]:
    """The engine config of one of the project's stacks."""
    return read_stack_file(stack_path(stack, project_root)).config


def stack_settings(
    stack: str, today: date | None = None, project_root: Path = PROJECT_ROOT
) -> Settings:
    """A stack's settings without running Pulumi (ConfigError or StackFileError like the CLI)."""
    return file_settings(stack, stack_path(stack, project_root), today, project_root)


def file_settings(
    stack: str, path: Path, today: date | None = None, project_root: Path = PROJECT_ROOT
) -> Settings:
    """The settings of a stack file at any path, as the program would read them."""
    stack_file = read_stack_file(path)
    return settings_from_engine_config(
        stack_file.config,
        stack=stack,
        project_root=project_root,
        today=today or today_utc(),
        secret_keys=frozenset(stack_file.secret_keys),
    )


def _engine_value(value: Any) -> str:
    """A config value as the engine passes it: a string as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(_decrypted(value), default=str)


def _is_secure(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}


def _has_secure(value: Any) -> bool:
    if _is_secure(value):
        return True
    if isinstance(value, Mapping):
        return any(_has_secure(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_secure(item) for item in value)
    return False


def _decrypted(value: Any) -> Any:
    if _is_secure(value):
        return SECRET_PLACEHOLDER
    if isinstance(value, Mapping):
        return {str(key): _decrypted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decrypted(item) for item in value]
    return value
