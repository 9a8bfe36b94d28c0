"""Reading a version's lifecycle from response headers: Deprecation, Sunset and Link.

Deprecation is RFC 9745 (`@<epoch seconds>`); the legacy draft forms `true` and an HTTP-date are
accepted too. Sunset is an RFC 8594 HTTP-date (IMF-fixdate; the obsolete RFC 850 and asctime forms
are tolerated). Links come from `rel="successor-version"`, `rel="deprecation"` and `rel="sunset"`.
A malformed value never fails a call: it is ignored and logged at debug level.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

from mlserve_client._http import Headers

log = logging.getLogger("mlserve_client")

_SF_DATE = re.compile(r"^@(-?\d{1,15})$")
MAX_LINK_BYTES = 16 * 1024  # a version's three links take a few hundred bytes
MAX_LINKS = 64
_LINK_PARAM = re.compile(
    r'\s*;\s*([A-Za-z0-9!#$&+\-.^_`|~]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*))?'
)


@dataclass(frozen=True)
class Deprecation:
    """A version's deprecation as the server announced it or the client table has it (`source`)."""

    deprecated_at: datetime | None
    sunset_at: datetime | None
    successor: str | None
    docs: str | None
    sunset_policy: str | None = None
    source: Literal["server", "client"] = "server"


@dataclass(frozen=True)
class Link:
    """One link of a Link header: target and relation types."""

    target: str
    rels: tuple[str, ...]


def parse_deprecation(value: str | None) -> datetime | bool | None:
    """A Deprecation field: its date, True for the legacy `true`, None when absent or malformed."""
    if value is None:
        return None
    text = value.strip()
    match = _SF_DATE.match(text)
    if match:
        try:
            return datetime.fromtimestamp(int(match.group(1)), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            log.debug("ignoring out-of-range Deprecation %r", value)
            return None
    if text.lower() == "true":
        return True
    moment = parse_http_date(text, field="Deprecation")
    return moment


def parse_http_date(value: str | None, *, field: str = "Sunset") -> datetime | None:
    """An HTTP-date in any of its three forms as an aware UTC datetime; None if absent or bad."""
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)  # HTTP-dates are always GMT
        return moment.astimezone(timezone.utc)
    except (TypeError, ValueError, IndexError, OverflowError):
        log.debug("ignoring malformed %s %r", field, value)
        return None


def parse_links(values: list[str]) -> list[Link]:
    """Every link of one or more Link fields (RFC 8288); malformed parts are skipped. Linear in
    the header size; fields beyond MAX_LINK_BYTES or MAX_LINKS links are ignored, not parsed."""
    if sum(len(value) for value in values) > MAX_LINK_BYTES:
        log.debug("ignoring Link fields of more than %d bytes", MAX_LINK_BYTES)
        return []
    links: list[Link] = []
    for value in values:
        position = 0
        while len(links) < MAX_LINKS:
            start = value.find("<", position)
            if start < 0:
                break
            end = value.find(">", start)
            if end < 0:
                log.debug("ignoring unterminated Link target in %r", value)
                break
            target = value[start + 1 : end].strip()
            position = end + 1
            rels: tuple[str, ...] = ()
            while (match := _LINK_PARAM.match(value, position)) is not None:
                position = match.end()
                name, raw = match.group(1).lower(), match.group(2) or ""
                if name == "rel" and not rels:
                    rels = tuple(raw.strip('"').lower().split())
            links.append(Link(target=target, rels=rels))
    return links


def link_target(links: list[Link], rel: str) -> str | None:
    """The target of the first link with this relation type."""
    return next((link.target for link in links if rel in link.rels), None)


def parse_lifecycle(headers: Headers) -> Deprecation | None:
    """The deprecation a response announces, or None when it carries no valid Deprecation."""
    deprecated = parse_deprecation(headers.get("Deprecation"))
    if deprecated is None:
        return None
    links = parse_links(headers.get_all("Link"))
    return Deprecation(
        deprecated_at=deprecated if isinstance(deprecated, datetime) else None,
        sunset_at=parse_http_date(headers.get("Sunset")),
        successor=link_target(links, "successor-version"),
        docs=link_target(links, "deprecation"),
        sunset_policy=link_target(links, "sunset"),
    )
