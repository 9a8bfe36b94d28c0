"""SQS events as an event source mapping hands them to Lambda (AWS's "Using Lambda with Amazon
SQS" example event): one builder for `mlserve batch`, the benchmark and the tests."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

from mlserve_runtime.conventions import SQS_EVENT_SOURCE
from mlserve_runtime.gateway_events import ACCOUNT_ID, REGION


def queue_arn(name: str, region: str = REGION, account: str = ACCOUNT_ID) -> str:
    """An SQS queue's ARN."""
    return f"arn:aws:sqs:{region}:{account}:{name}"


def sqs_record(
    body: str,
    source_arn: str,
    *,
    message_id: str | None = None,
    receive_count: int = 1,
    sent_ms: int | None = None,
) -> dict[str, Any]:
    """One record: the message's body, id, receipt handle, attributes and its source queue."""
    sent = int(time.time() * 1000) if sent_ms is None else sent_ms
    message_id = message_id or str(uuid.uuid4())
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{hashlib.sha256(message_id.encode()).hexdigest()}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(sent + 2),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": SQS_EVENT_SOURCE,
        "eventSourceARN": source_arn,
        "awsRegion": source_arn.split(":")[3],
    }


def sqs_event(bodies: Sequence[str], source_arn: str, **record: Any) -> dict[str, Any]:
    """A batch of records, as the mapping invokes the function with it."""
    return {"Records": [sqs_record(body, source_arn, **record) for body in bodies]}
