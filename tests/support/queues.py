"""Queue versions for tests: which versions of the stack files have `queue`, the example request
their queue route declares, and SQS served by moto in this process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest

from components.settings import VersionSettings
from mlserve.stack_files import stack_files, stack_settings

TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


def queue_versions(today: str) -> list[tuple[str, VersionSettings]]:
    """(stack, version) of every deployed version with a queue, judged on `today`."""
    return [
        (stack, version)
        for stack in stack_files()
        for version in stack_settings(stack, today=date.fromisoformat(today)).deployed_versions()
        if version.queue is not None
    ]


def queue_ids(versions: list[tuple[str, VersionSettings]]) -> list[str]:
    """Test ids such as `dev-churn-v2`."""
    return [f"{stack}-{v.service}-{v.key}" for stack, v in versions]


def queue_example(version: VersionSettings) -> dict[str, Any]:
    """The example request the version's queue route declares in its SURFACE."""
    assert version.surface is not None and version.queue_route is not None
    found = version.surface["routes"][version.queue_route.key].get("example")
    assert isinstance(found, dict), f"{version.service} {version.key} declares no example"
    return found


@contextmanager
def moto_sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An SQS client on moto in this process (boto3 clients made meanwhile use it too)."""
    import boto3
    from moto import mock_aws

    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("sqs")
