"""The client's version table drives its surface: attributes, modules, defaults, naming."""

from __future__ import annotations

import sys
import typing
from datetime import date
from types import ModuleType

import pytest
from mlserve_client import (
    SUPPORTED,
    Client,
    ServiceClient,
    SupportedVersion,
    VersionClient,
    _versions,
)
from mlserve_client import _base as base_module
from mlserve_client import _client as client_module
from mlserve_client._versions import attribute_name, recommended
from mlserve_client.churn import ChurnV1, ChurnV2
from mlserve_client.sentiment import SentimentV2


def test_given_table_when_client_built_then_one_typed_attribute_per_service_and_major() -> None:
    # GIVEN the table and a client
    client = Client("http://127.0.0.1:1")
    # WHEN each row is looked up through the client's attributes
    for row in SUPPORTED:
        service = getattr(client, attribute_name(row.service))
        version = getattr(service, row.key)
        # THEN it is the row's version client, the same object each time
        assert isinstance(version, VersionClient)
        assert (version.service, version.major) == (row.service, row.major)
        assert version is service.version(row.major) is service.version(row.key)
    # AND the class annotations (what type checkers see) list exactly the table's services
    services = {attribute_name(row.service) for row in SUPPORTED}
    assert set(typing.get_type_hints(Client)) == services
    for name in services:
        assert {major for major in getattr(client, name).majors} == {
            row.major for row in SUPPORTED if attribute_name(row.service) == name
        }


def test_given_no_choice_when_default_used_then_newest_non_deprecated_major() -> None:
    # GIVEN a client without default_versions / WHEN / THEN v2 for both services
    client = Client("http://127.0.0.1:1")
    assert isinstance(client.churn.default, ChurnV2)
    assert isinstance(client.sentiment.default, SentimentV2)
    assert recommended("churn").major == 2


def test_given_pinned_default_when_default_used_then_that_major() -> None:
    # GIVEN a caller that must stay on churn v1 for now
    client = Client("http://127.0.0.1:1", default_versions={"churn": "v1"})
    # WHEN / THEN the default is v1 for churn and unchanged for sentiment
    assert isinstance(client.churn.default, ChurnV1)
    assert isinstance(client.sentiment.default, SentimentV2)


def test_given_bad_default_versions_when_client_built_then_error() -> None:
    # GIVEN an unknown service or an unsupported major / WHEN / THEN rejected at construction
    with pytest.raises(ValueError, match="unknown services: fraud"):
        Client("http://127.0.0.1:1", default_versions={"fraud": 1})
    with pytest.raises(KeyError, match="churn v9"):
        Client("http://127.0.0.1:1", default_versions={"churn": 9})
    with pytest.raises(ValueError, match="http"):
        Client("ftp://example.com")


def test_given_hyphenated_service_when_in_table_then_underscored_attribute_and_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a table row for `fraud-score` and its modules (registered as a release would ship)
    class FraudScoreV1(VersionClient):
        """fraud-score v1."""

        service = "fraud-score"
        major = 1

    class FraudScoreService(ServiceClient):
        """fraud-score."""

        name = "fraud-score"

    package = ModuleType("mlserve_client.fraud_score")
    module = ModuleType("mlserve_client.fraud_score.v1")
    FraudScoreV1.__module__ = module.__name__
    module.FraudScoreV1 = FraudScoreV1  # type: ignore[attr-defined]
    package.FraudScoreService = FraudScoreService  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, package.__name__, package)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    table = (*SUPPORTED, SupportedVersion("fraud-score", 1, "active"))
    for where in (_versions, base_module, client_module):
        monkeypatch.setattr(where, "SUPPORTED", table)
    # WHEN a client is built
    client = Client("http://127.0.0.1:1")
    # THEN the service is `client.fraud_score`, its module `mlserve_client.fraud_score.v1`
    assert table[-1].module == "mlserve_client.fraud_score.v1"
    service = client.fraud_score  # type: ignore[attr-defined]
    assert isinstance(service.version(1), FraudScoreV1)
    assert client.service("fraud-score") is service is client.service("fraud_score")
    assert service.version(1).supported.base_path == "/fraud-score/v1"


def test_given_table_when_read_then_rows_consistent() -> None:
    # GIVEN the shipped table / WHEN each row is checked
    for row in SUPPORTED:
        # THEN deprecated rows carry the dates and successor a warning needs
        if row.status == "deprecated":
            assert row.deprecated_on and row.sunset_on and row.successor
        if row.sunset_on is not None:
            assert row.deprecated_on is not None and row.deprecated_on <= row.sunset_on
        if row.successor is not None:
            assert int(row.successor[1:]) > row.major
    assert len({(row.service, row.major) for row in SUPPORTED}) == len(SUPPORTED)
    assert _versions.supported("churn", 1).sunset_on == date(2027, 6, 30)
