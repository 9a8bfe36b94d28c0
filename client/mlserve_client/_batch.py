"""Batch callers of a major: requests onto its work queue, results off its results queue (or a
queue of the caller's, `reply_to`), through boto3 (`pip install 'mlserve-client[batch]'`). The
queue URLs are the stack's `queues` output, given as `Client(..., queues=...)`.

A work message is `{"id", "request", "replyTo"?}`; a result is `{"id", "version", "response"}`
or `{"id", "version", "problem"}` (RFC 9457) with the major's Deprecation and Sunset as message
attributes. SQS delivers at least once: a result can arrive twice, so key them by `id`."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from mlserve_client._errors import MlserveError
from mlserve_client._http import Headers
from mlserve_client._lifecycle import Deprecation, parse_lifecycle

ModelT = TypeVar("ModelT", bound=BaseModel)
SEND_BATCH_ENTRIES = 10  # SQS's SendMessageBatch
SEND_BATCH_BYTES = 256 * 1024  # a work queue's largest message, and so its largest batch
MESSAGE_BYTES = 64 * 1024  # what a version reads of one message (its HTTP body limit too)
RECEIVE_LIMIT = 10  # SQS's ReceiveMessage
ID_LIMIT = 128


@dataclass(frozen=True)
class BatchResult(Generic[ModelT]):
    """One answer of a batch: the typed response, or the problem that stopped the message."""

    id: str | None
    """The message's id (None for a message whose id could not be read)."""
    version: str
    response: ModelT | None
    problem: dict[str, Any] | None
    deprecation: Deprecation | None = None
    """The major's deprecation, when its result announced one."""

    @property
    def ok(self) -> bool:
        """Whether the message was answered with a response."""
        return self.response is not None


class BatchSubmitError(MlserveError):
    """Some requests of a batch were not queued; `ids` names them (the others were)."""

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


class Queues:
    """The queue URLs of a stack by `service/vN`, and the SQS client (boto3's, made on first use
    unless one is given)."""

    def __init__(self, urls: Mapping[str, Mapping[str, str]] | None, sqs: Any = None) -> None:
        self._urls = {key: dict(value) for key, value in (urls or {}).items()}
        self._sqs = sqs
        self._lock = threading.Lock()  # async calls run in threads; boto3's session is not safe

    def url(self, service: str, version: str, kind: str) -> str:
        """The `work` or `results` queue URL of a major."""
        found = self._urls.get(f"{service}/{version}", {}).get(kind)
        if not found:
            raise MlserveError(
                f"no {kind} queue is known for {service} {version}: pass Client(..., queues=...) "
                "the stack's `queues` output (`pulumi stack output queues --json`)"
            )
        return found

    @property
    def sqs(self) -> Any:
        """The SQS client."""
        with self._lock:
            if self._sqs is None:
                try:
                    import boto3
                except ImportError:
                    raise MlserveError(
                        "batch calls need boto3: pip install 'mlserve-client[batch]'"
                    ) from None
                try:
                    self._sqs = boto3.client("sqs")
                except Exception as error:  # no region configured, a broken profile
                    raise MlserveError(f"could not make an SQS client: {error}") from error
            return self._sqs


def submit(
    queues: Queues,
    service: str,
    version: str,
    request_model: type[BaseModel],
    requests: Sequence[BaseModel | Mapping[str, Any]],
    ids: Sequence[str] | None = None,
    reply_to: str | None = None,
) -> list[str]:
    """Validate every request against the contract, then queue them in batches of 10; the ids,
    in order (generated unless given)."""
    chosen = list(ids) if ids is not None else [uuid.uuid4().hex for _ in requests]
    if len(chosen) != len(requests) or len(set(chosen)) != len(chosen):
        raise ValueError("ids must be unique, one per request")
    if any(not 0 < len(i) <= ID_LIMIT for i in chosen):
        raise ValueError(f"each id must have 1 to {ID_LIMIT} characters")
    bodies = []
    for message_id, request in zip(chosen, requests, strict=True):
        model = request if isinstance(request, request_model) else request_model.model_validate(
            request.model_dump() if isinstance(request, BaseModel) else dict(request)
        )  # fmt: skip
        message: dict[str, Any] = {"id": message_id, "request": model.model_dump(
            mode="json", exclude_unset=True)}  # fmt: skip
        if reply_to is not None:
            message["replyTo"] = reply_to
        body = json.dumps(message, separators=(",", ":"))  # ASCII: characters are bytes
        if len(body) > MESSAGE_BYTES:
            raise ValueError(f"request {message_id!r} makes a {len(body)}-byte message; "
                             f"{service} {version} reads at most {MESSAGE_BYTES}")  # fmt: skip
        bodies.append(body)
    url = queues.url(service, version, "work")
    unsent: list[str] = []
    for start, end in _chunks(bodies):
        entries = [{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[start:end])]
        try:
            reply = queues.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        except MlserveError:
            raise
        except Exception as error:  # refused, unreachable: what is queued stays queued
            unsent += chosen[start:]
            raise BatchSubmitError(
                f"{len(unsent)} of {len(bodies)} request(s) to {service} {version} were not "
                f"queued ({error}); send them again", unsent,
            ) from error  # fmt: skip
        unsent += [chosen[start + int(entry["Id"])] for entry in reply.get("Failed", [])]
    if unsent:
        raise BatchSubmitError(
            f"{len(unsent)} of {len(bodies)} request(s) to {service} {version} were not queued; "
            "send them again", unsent,
        )  # fmt: skip
    return chosen


def _chunks(bodies: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each SendMessageBatch: 10 entries, SEND_BATCH_BYTES in all."""
    spans: list[tuple[int, int]] = []
    start, size = 0, 0
    for index, body in enumerate(bodies):
        full = index - start == SEND_BATCH_ENTRIES or size + len(body) > SEND_BATCH_BYTES
        if index > start and full:
            spans.append((start, index))
            start, size = index, 0
        size += len(body)
    if bodies:
        spans.append((start, len(bodies)))
    return spans


def receive(
    queues: Queues,
    service: str,
    version: str,
    response_model: type[ModelT],
    max_messages: int = RECEIVE_LIMIT,
    wait_seconds: int = 20,
    queue_url: str | None = None,
) -> list[BatchResult[ModelT]]:
    """Up to `max_messages` results (long polling up to `wait_seconds`), deleted once read; a
    message that is no result of this contract comes back as a problem, so it cannot block the
    queue."""
    if not 1 <= max_messages <= RECEIVE_LIMIT or not 0 <= wait_seconds <= 20:
        raise ValueError("max_messages must be 1-10 and wait_seconds 0-20 (SQS's limits)")
    url = queue_url or queues.url(service, version, "results")
    try:
        reply = queues.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds,
            MessageAttributeNames=["All"],
        )  # fmt: skip
    except MlserveError:
        raise
    except Exception as error:
        raise MlserveError(f"could not read results of {service} {version} from {url}: "
                           f"{error}") from error  # fmt: skip
    messages = reply.get("Messages", [])
    results = [_result(message, response_model, url) for message in messages]
    if messages:
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                   for n, m in enumerate(messages)]  # fmt: skip
        try:
            queues.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        except Exception as error:  # the results were read; they will be delivered again
            raise MlserveError(f"read {len(messages)} result(s) of {service} {version} but "
                               f"could not delete them from {url} ({error}); they will be "
                               "delivered again: key results by id") from error  # fmt: skip
    return results


def _result(
    message: Mapping[str, Any], response_model: type[ModelT], url: str
) -> BatchResult[ModelT]:
    try:
        body = json.loads(message["Body"])
        response = body.get("response")
        typed = response_model.model_validate(response) if response is not None else None
        result = BatchResult(id=body.get("id"), version=body["version"], response=typed,
                             problem=body.get("problem"))  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        detail = f"a message on {url} is not a result of the {response_model.__name__} contract"
        problem = {"title": "Unreadable result", "status": 502, "detail": f"{detail}: {error}",
                   "messageId": message.get("MessageId")}  # fmt: skip
        return BatchResult(id=None, version="", response=None, problem=problem)
    attributes = message.get("MessageAttributes") or {}
    headers = Headers((name, value.get("StringValue", "")) for name, value in attributes.items())
    return BatchResult(result.id, result.version, result.response, result.problem,
                       parse_lifecycle(headers))  # fmt: skip
