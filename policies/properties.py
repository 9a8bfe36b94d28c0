"""Reading resource properties safely: unknown values during preview, missing keys, odd types."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, NoReturn, TypeVar

from pulumi_policy import ReportViolation
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


class Unknown:
    """The marker `lookup` returns for a value the engine does not know yet (preview)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = Unknown()
NEEDS_UNKNOWN = "needs values that are unknown until the update"


def _is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in _SENTINELS


def lookup(value: Any, *path: str | int) -> Any:
    """The value at `path`: UNKNOWN when it, or a container on the way, is unknown during preview;
    None when a key is missing or the path crosses something that is not a container."""
    current = value
    for key in path:
        if _is_unknown(current):
            return UNKNOWN
        try:
            if isinstance(key, str):
                if not isinstance(current, Mapping):
                    return None
                current = current[key]
            else:
                if not isinstance(current, Sequence) or isinstance(current, str):
                    return None
                current = current[key]
        except UnknownValueError:
            return UNKNOWN
        except (KeyError, IndexError):
            return None
    return UNKNOWN if _is_unknown(current) else current


def text(value: Any, *path: str | int) -> str | Unknown | None:
    """The string at `path`, UNKNOWN, or None when it is missing or not a string."""
    found = lookup(value, *path)
    return found if isinstance(found, str | Unknown) else None


def entries(value: Any, *path: str | int) -> Iterator[tuple[str, Any]]:
    """The (key, value) pairs of the mapping at `path`; values may be UNKNOWN."""
    mapping = lookup(value, *path)
    if isinstance(mapping, Mapping):
        for key in list(mapping):
            yield str(key), lookup(mapping, key)


def items(value: Any, *path: str | int) -> Iterator[Any]:
    """The elements of the list at `path`; elements may be UNKNOWN."""
    sequence = lookup(value, *path)
    if isinstance(sequence, Sequence) and not isinstance(sequence, str):
        for index in range(len(sequence)):
            yield lookup(sequence, index)


class Unknowns:
    """The unknown values a validator met; it reports every definite violation first, then raises
    once, so the engine shows its "can't run during preview" advisory instead of a verdict."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def note(self, where: str) -> None:
        """Remember that the value at `where` was needed but unknown."""
        if where not in self.paths:
            self.paths.append(where)

    def raise_if_any(self) -> None:
        """Raise pulumi-policy's UnknownValueError naming the unknown values, if there were any."""
        if self.paths:
            shown = ", ".join(self.paths[:5])
            more = f" and {len(self.paths) - 5} more" if len(self.paths) > 5 else ""
            raise_unknown(f"{NEEDS_UNKNOWN}: {shown}{more}")


def unknown(where: str) -> NoReturn:
    """Stop here: the value at `where` is unknown during preview and nothing else is checkable."""
    raise_unknown(f"{NEEDS_UNKNOWN}: {where}")


def raise_unknown(message: str) -> NoReturn:
    """Raise the error pulumi-policy turns into an advisory "can't run policy" diagnostic."""
    error = UnknownValueError(UNKNOWN_STRING_VALUE, [])
    error.message = message
    raise error


Validator = TypeVar("Validator", bound=Callable[[Any, ReportViolation], None])


def guarded(validator: Validator) -> Validator:
    """A validator that reports a violation instead of crashing the pack on an unexpected error:
    a rule that could not be evaluated must neither pass silently nor take the engine down."""

    @functools.wraps(validator)
    def checked(args: Any, report_violation: ReportViolation) -> None:
        try:
            validator(args, report_violation)
        except UnknownValueError:
            raise
        except Exception as error:  # the verdict on any other failure is "could not check"
            report_violation(
                f"the policy could not be evaluated ({type(error).__name__}: {error}); the "
                "resource does not have the shape the rule expects, or the pack has a bug",
                None,
            )

    return checked  # type: ignore[return-value]


def whole_number(value: Any) -> int | None:
    """An integer as the engine sends numbers (a double in a protobuf Struct), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None  # also inf and nan
    return int(value)
