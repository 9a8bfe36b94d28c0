"""How config problems are collected and told: every one at once, at the key path users see in the
stack file, in words (no internal class names), never echoing the value of a secret key."""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ValidationError

PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
Path = tuple[str | int, ...]


class ConfigError(Exception):
    """A stack config that cannot be deployed; the message lists every problem with its key path."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid stack config ({len(problems)} problem(s)):\n{lines}")


def key_path(*parts: object) -> str:
    """The key path as users see it in the stack file: `mlserve:services.churn.versions.v2`;
    a key that is not a plain word is quoted, e.g. `mlserve:services["my model"]`."""
    path = "mlserve:"
    for index, part in enumerate(str(part) for part in parts):
        if not PLAIN_KEY.fullmatch(part):
            path += f"[{json.dumps(part)}]"
        else:
            path += part if index == 0 else f".{part}"
    return path


class Problems:
    """Where validation puts what it finds: problems and warnings, each at a key path. Validators
    report here and carry on, so one run of the model finds every problem."""

    def __init__(self, secret_keys: frozenset[str] = frozenset()) -> None:
        self.secret_keys = secret_keys
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.invalid: set[Path] = set()
        """Entries (services, versions) that did not validate: other rules skip them."""
        self._where: list[Path] = [()]

    @property
    def where(self) -> Path:
        """The key path of the entry being validated."""
        return self._where[-1]

    @contextmanager
    def entry(self, *parts: str | int) -> Iterator[Path]:
        """Validate inside the entry at `parts` below the current one."""
        path = self.where + parts
        self._where.append(path)
        try:
            yield path
        finally:
            self._where.pop()

    def add(self, path: Path, message: str) -> None:
        """One problem at a key path (relative to the stack config's root)."""
        text = f"{key_path(*path) if path else 'mlserve'}: {message}"
        if text not in self.problems:
            self.problems.append(text)

    def warn(self, path: Path, message: str) -> None:
        """A note that does not stop the deployment."""
        self.warnings.append(f"{key_path(*path)}: {message}")

    def shown(self, value: Any, path: Path) -> str:
        """A value as a message may echo it: never one from a secret key."""
        top = f"mlserve:{path[0]}" if path else ""
        return "[secret]" if top in self.secret_keys else repr(value)

    def add_validation_error(
        self, error: ValidationError, root: type[BaseModel], base: Path, entry_key: bool = False
    ) -> None:
        """Every error pydantic found, at its key path below `base` (the entry `root` validates),
        told in the user's words. With `entry_key`, the error came from validating the one-entry
        mapping `{key: entry}`, and its locations start with that key, which `base` ends in."""
        for detail in error.errors(include_url=False):
            loc = tuple(part for part in detail["loc"] if not _is_type_marker(part))
            if entry_key:
                loc = loc[1:]
            path = base + loc
            self.add(path, self._describe(detail, root, loc, path))

    def _describe(self, detail: Any, root: type[BaseModel], loc: Path, path: Path) -> str:
        kind = detail["type"]
        if kind == "extra_forbidden":
            allowed = allowed_keys(root, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else f"allowed: {', '.join(allowed)}"
            return f"unknown key; {hint}"
        if kind == "missing":
            return "required key is missing"
        if kind in ("model_type", "model_attributes_type", "dict_type"):
            return f"expected a mapping of keys (got {self.shown(detail.get('input'), path)})"
        if kind == "literal_error":
            allowed = _literal_values(detail)
            close = difflib.get_close_matches(str(detail.get("input")), allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            shown = self.shown(detail.get("input"), path)
            return f"{shown} is not allowed; use one of {', '.join(map(repr, allowed))}{hint}"
        message = str(detail["msg"]).removeprefix("Value error, ")
        if kind.startswith("mlserve_"):
            return message  # our own messages already say what is wrong and how to fix it
        return f"{message} (got {self.shown(detail.get('input'), path)})"


def _is_type_marker(part: object) -> bool:
    """Parts pydantic adds to a location for union arms and dict keys, not written by users."""
    return part in ("float", "int", "str", "bool", "[key]") or str(part).startswith("function-")


def _literal_values(detail: Any) -> list[str]:
    expected = str((detail.get("ctx") or {}).get("expected", ""))
    return re.findall(r"'([^']*)'", expected)


def allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys users may write at `loc` below `model` (aliases, as in the stack file)."""
    current: Any = model
    for part in loc:
        current = _inner(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return []


def _inner(annotation: Any, part: str | int) -> Any:
    """The type one step into `annotation` along a location part."""
    annotation = _model_arm(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if part in (field.alias, name):
                return _model_arm(field.annotation)
        return None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        return _model_arm(args[1])
    if origin in (list, tuple) and args:
        return _model_arm(args[0])
    return None


def _model_arm(annotation: Any) -> Any:
    """The useful part of an annotation: the model of `X | None`, the type of `Annotated[X]`."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _model_arm(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        arms = [arm for arm in typing.get_args(annotation) if arm is not type(None)]
        return _model_arm(arms[0]) if len(arms) == 1 else annotation
    return annotation
