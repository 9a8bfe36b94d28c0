"""Lifecycle header parsing in the client: RFC 9745 Deprecation, RFC 8594 Sunset, RFC 8288 Link."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mlserve_client._http import Headers
from mlserve_client._lifecycle import (
    parse_deprecation,
    parse_http_date,
    parse_lifecycle,
    parse_links,
)

SUNSET = datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
DEPRECATED = datetime(2026, 9, 1, tzinfo=UTC)


def test_given_rfc9745_structured_date_when_parsed_then_utc_moment() -> None:
    # GIVEN the RFC 9745 form, @ and epoch seconds (the example from the lifecycle notes)
    # WHEN / THEN it is that moment in UTC
    assert parse_deprecation("@1788220800") == DEPRECATED


def test_given_legacy_forms_when_parsed_then_true_or_the_date() -> None:
    # GIVEN the draft forms servers still send: `true`, and an IMF-fixdate
    # WHEN / THEN `true` means deprecated with an unknown date, the date parses
    assert parse_deprecation("true") is True
    assert parse_deprecation("TRUE") is True
    assert parse_deprecation("Tue, 01 Sep 2026 00:00:00 GMT") == DEPRECATED


@pytest.mark.parametrize(
    "value",
    ["Wed, 30 Jun 2027 23:59:59 GMT", "Wednesday, 30-Jun-27 23:59:59 GMT",
     "Wed Jun 30 23:59:59 2027"],
)  # fmt: skip
def test_given_each_http_date_form_when_parsed_then_same_moment(value: str) -> None:
    # GIVEN the IMF-fixdate and the obsolete RFC 850 and asctime forms
    # WHEN / THEN each is 2027-06-30T23:59:59Z, timezone-aware
    moment = parse_http_date(value)
    assert moment == SUNSET
    assert moment is not None and moment.tzinfo is not None


@pytest.mark.parametrize(
    "value", ["", "yesterday", "@", "@12a", "@1.5", "1788220800", "false", "@99999999999999"]
)
def test_given_malformed_deprecation_when_parsed_then_ignored_and_logged(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a Deprecation value in no known form
    # WHEN it is parsed
    with caplog.at_level(logging.DEBUG, logger="mlserve_client"):
        parsed = parse_deprecation(value)
    # THEN it is ignored, with a debug note rather than an error
    assert parsed is None
    assert any("Deprecation" in record.getMessage() for record in caplog.records)


def test_given_malformed_sunset_when_parsed_then_none() -> None:
    # GIVEN Sunset values that are not HTTP-dates / WHEN parsed / THEN nothing, no exception
    for value in (
        "2027-06-30",
        "soon",
        "Wed, 31 Jun 2027 25:61:61 GMT",
        "",
        "Wed, 30 Jun 99999999999 23:59:59 GMT",
        "Wed, 30 Jun 2027 23:59:59 +9999",
    ):
        assert parse_http_date(value) is None


def test_given_link_header_with_several_relations_when_parsed_then_each_target() -> None:
    # GIVEN a Link field in the server's shape, plus a quoted comma and a multi-value rel
    header = (
        '<https://docs.example.com/churn/v1>; rel="deprecation"; type="text/html", '
        '<https://docs.example.com/churn/v1>; rel="sunset"; title="a, b", '
        '</churn/v2>; rel="successor-version latest"'
    )
    # WHEN parsed
    links = parse_links([header])
    # THEN every link keeps its target and relations
    assert [(link.target, link.rels) for link in links] == [
        ("https://docs.example.com/churn/v1", ("deprecation",)),
        ("https://docs.example.com/churn/v1", ("sunset",)),
        ("/churn/v2", ("successor-version", "latest")),
    ]


def test_given_full_lifecycle_headers_when_parsed_then_all_parts_known() -> None:
    # GIVEN the headers a deprecated mlserve version answers with, Link split over two fields
    headers = Headers(
        [
            ("Deprecation", "@1788220800"),
            ("Sunset", "Wed, 30 Jun 2027 23:59:59 GMT"),
            ("link", '<https://docs.example.com/churn/v1>; rel="deprecation"; type="text/html"'),
            ("Link", '</churn/v2>; rel="successor-version"'),
        ]
    )
    # WHEN parsed
    deprecation = parse_lifecycle(headers)
    # THEN dates, successor and docs are all there
    assert deprecation is not None
    assert deprecation.deprecated_at == DEPRECATED
    assert deprecation.sunset_at == SUNSET
    assert deprecation.successor == "/churn/v2"
    assert deprecation.docs == "https://docs.example.com/churn/v1"
    assert deprecation.source == "server"


def test_given_malformed_parts_when_parsed_then_the_valid_parts_survive() -> None:
    # GIVEN a valid Deprecation with a garbage Sunset and a broken Link
    headers = Headers(
        [("Deprecation", "true"), ("Sunset", "not a date"), ("Link", "<unterminated; rel=x")]
    )
    # WHEN parsed
    deprecation = parse_lifecycle(headers)
    # THEN the version is known deprecated; the unknown parts are None
    assert deprecation is not None
    assert (deprecation.deprecated_at, deprecation.sunset_at, deprecation.successor) == (
        None,
        None,
        None,
    )


def test_given_no_or_malformed_deprecation_when_parsed_then_not_deprecated() -> None:
    # GIVEN responses without a usable Deprecation field (a Sunset alone does not deprecate)
    # WHEN / THEN no deprecation is reported
    assert parse_lifecycle(Headers([("Sunset", "Wed, 30 Jun 2027 23:59:59 GMT")])) is None
    assert parse_lifecycle(Headers([("Deprecation", "@soon")])) is None


@given(
    deprecation=st.text(max_size=40),
    sunset=st.text(max_size=40),
    link=st.text(alphabet=st.sampled_from('<>;,="\\ abc/:rel-'), max_size=60),
)
def test_given_arbitrary_header_text_when_parsed_then_never_raises(
    deprecation: str, sunset: str, link: str
) -> None:
    # GIVEN any text in the three lifecycle headers (Link from its delimiter alphabet)
    headers = Headers([("Deprecation", deprecation), ("Sunset", sunset), ("Link", link)])
    # WHEN parsed / THEN no exception, and any result is typed
    result = parse_lifecycle(headers)
    assert result is None or result.sunset_at is None or result.sunset_at.tzinfo is not None


@given(st.integers(min_value=0, max_value=253_402_300_799))  # up to 9999-12-31T23:59:59Z
def test_given_any_epoch_when_formatted_as_rfc9745_then_parsed_back(epoch: int) -> None:
    # GIVEN an epoch second / WHEN written as `@<epoch>` and parsed / THEN the same moment
    assert parse_deprecation(f"@{epoch}") == datetime.fromtimestamp(epoch, tz=UTC)
