"""A version's batch callers: SQS work messages `{"id", "request", "replyTo"?}` answered by one
result each, `{"id", "version", "response"}` or `{"id", "version", "problem"}`, on the version's
results queue (or the message's `replyTo`). A message that can never succeed (not JSON, against
the contract, after the sunset) gets a problem result and is done; only what may succeed on a
retry (the model raised, the result could not be sent) is reported in `batchItemFailures`, so
the dead-letter queue holds only messages worth a redrive.

The loop is ours rather than powertools' BatchProcessor: what a record's outcome is (a result to
send, a problem to send, a retry) and sending the results in batches are the whole job."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from mlserve_runtime import clock
from mlserve_runtime.conventions import (
    ATTRIBUTE_DEPRECATION,
    ATTRIBUTE_SUNSET,
    DEPRECATED,
    ENV_RESULTS_QUEUE_URL,
    PROBLEM_INVALID_REQUEST,
    SQS_EVENT_SOURCE,
    outcome,
)
from mlserve_runtime.lifecycle import DeploymentError, Lifecycle, gone_problem, lifecycle_headers
from mlserve_runtime.metrics import Count
from mlserve_runtime.problem import bounded_errors, field_errors, problem_body

MESSAGE_ID_LIMIT = 128  # characters of a caller's message id
QUEUE_URL = re.compile(r"^https?://[^/\s]+/\d{12}/[A-Za-z0-9_-]{1,80}$")
# SQS takes 10 entries per SendMessageBatch and, summed, no more than one message may be: 1 MiB
# (the results queue's maximum message size, components/queues.py). Counted in characters,
# which is cheap: 255 Ki characters are at most 1020 KiB of UTF-8, the rest is for attributes.
SEND_BATCH_ENTRIES = 10
RESULT_LIMIT = 255 * 1024
OK, INVALID, GONE, FAILED = outcome(200), outcome(400), outcome(410), outcome(500)

Answer = Callable[[BaseModel], Any]


def is_queue_event(event: Any) -> bool:
    """Whether an event is an SQS batch from an event source mapping."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(
            isinstance(r, Mapping)
            and r.get("eventSource") == SQS_EVENT_SOURCE
            and isinstance(r.get("messageId"), str)
            for r in records
        )
    )


def message_model(request_model: type[BaseModel]) -> type[BaseModel]:
    """The work message contract of a route: its HTTP request under `request`, a caller's `id`
    and an optional `replyTo` queue URL."""
    model: type[BaseModel] = create_model(
        "WorkMessage",
        __config__=ConfigDict(extra="forbid"),
        id=(Annotated[str, Field(min_length=1, max_length=MESSAGE_ID_LIMIT)], ...),
        request=(request_model, ...),
        replyTo=(Annotated[str, Field(pattern=QUEUE_URL.pattern)] | None, None),
    )
    return model


def result_model(response_model: type[BaseModel]) -> type[BaseModel]:
    """The result contract of a route: the message's `id`, the answering `version` and either
    the HTTP `response` or an RFC 9457 `problem`."""
    model: type[BaseModel] = create_model(
        "BatchResult",
        id=(str | None, ...),
        version=(str, ...),
        response=(response_model | None, None),
        problem=(dict[str, Any] | None, None),
    )
    return model


# What SQS answers when the version may not send to a queue or it does not exist: a replyTo
# answered so goes to the results queue; any other failure is retried, so a caller's private
# results never land on the shared queue by accident.
REFUSALS = frozenset({"AccessDenied", "AccessDeniedException", "QueueDoesNotExist",
                      "AWS.SimpleQueueService.NonExistentQueue", "InvalidAddress"})  # fmt: skip


class RefusedError(Exception):
    """The queue does not take this version's results at all (no permission, no such queue)."""


class Sender(Protocol):
    """Sends result bodies to a queue; returns the indexes of those it could not send (a call
    that fails as a whole fails only its own bodies: those sent before stay sent); raises
    RefusedError when the queue takes none."""

    def send(self, url: str, bodies: list[str], attributes: dict[str, Any]) -> list[int]:
        """Send `bodies` to the queue at `url`, each with the message `attributes`."""
        ...


class SqsSender:
    """SendMessageBatch through boto3 (Lambda's runtime provides it), made on the first send so
    an HTTP cold start never pays for importing it."""

    def __init__(self) -> None:
        self._client: Any = None

    def send(self, url: str, bodies: list[str], attributes: dict[str, Any]) -> list[int]:
        """Send in batches of 10 (and RESULT_LIMIT characters)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "sqs", config=Config(retries={"mode": "standard"}, connect_timeout=3,
                                     read_timeout=5)
            )  # fmt: skip
        failed: list[int] = []
        for start, chunk in _chunks(bodies):
            entries = [
                {"Id": str(start + n), "MessageBody": body, "MessageAttributes": attributes}
                if attributes
                else {"Id": str(start + n), "MessageBody": body}
                for n, body in enumerate(chunk)
            ]
            try:
                reply = self._client.send_message_batch(QueueUrl=url, Entries=entries)
            except Exception as error:  # unreachable, throttled: these bodies were not sent
                code = getattr(error, "response", {}).get("Error", {}).get("Code")
                if code in REFUSALS:
                    raise RefusedError(code) from error
                failed += range(start, start + len(chunk))
                continue
            failed += [int(entry["Id"]) for entry in reply.get("Failed", [])]
        return failed


class FileSender:
    """The local queue: results appended to a JSON-lines file (`file://` URL), one object per
    result with its queue, body and attributes (`python -m mlserve batch`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, url: str, bodies: list[str], attributes: dict[str, Any]) -> list[int]:
        """Append every body; nothing fails but the file itself."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as results:
            for body in bodies:
                line = {"queue": url, "body": body, "attributes": attributes}
                results.write(json.dumps(line) + "\n")
        return []


def consumer(
    *,
    service: str,
    version: str,
    answer: Answer,
    request_model: type[BaseModel],
    response_model: type[BaseModel],
    lifecycle: Lifecycle,
    env: Mapping[str, str],
    max_body_bytes: int,
    log: Any,
    count: Count | None,
    sender: Sender | None = None,
) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """The SQS handler of a version's queue route: each record answered (`answer` takes the
    validated request), every result sent, `{"batchItemFailures": [...]}` returned."""
    results_url = env.get(ENV_RESULTS_QUEUE_URL) or ""
    if not results_url:
        raise DeploymentError(f"{ENV_RESULTS_QUEUE_URL} is required for a version with a queue")
    if sender is None:
        if results_url.startswith("file://"):
            sender = FileSender(Path(urlsplit(results_url).path))
        else:
            sender = SqsSender()
    message = message_model(request_model)
    # a replyTo must be on the results queue's SQS endpoint (the region's); a local file queue
    # takes any
    endpoint = urlsplit(results_url).netloc if not results_url.startswith("file:") else None
    attributes = {
        name: {"DataType": "String", "StringValue": value}
        for name, value in lifecycle_headers(lifecycle).items()
        if name in (ATTRIBUTE_DEPRECATION, ATTRIBUTE_SUNSET)
    }
    sunset_at = lifecycle.sunset_at if lifecycle.status == DEPRECATED else None
    sunset_problem = gone_problem(lifecycle) if sunset_at is not None else {}
    version_member = ',"version":' + json.dumps(version) + ',"response":'

    def problem_result(content: dict[str, Any], body: Any) -> str:
        return json.dumps({"id": _lenient_id(body), "version": version, "problem": content})

    def problem(status: int, message_id: str, body: Any, title: str, detail: str,
                type_: str, **extensions: Any) -> str:  # fmt: skip
        content = problem_body(status, title, detail, type_, messageId=message_id, **extensions)
        return problem_result(content, body)

    def answer_record(message_id: str, body: Any, gone: bool) -> tuple[str, str, int]:
        """(where the result goes, the result, its HTTP-like status); raises on what a retry
        might fix."""
        if gone:
            return (
                results_url,
                problem_result({**sunset_problem, "messageId": message_id}, body),
                410,
            )
        if (
            not isinstance(body, str)
            or len(body) > max_body_bytes
            or (4 * len(body) > max_body_bytes and len(body.encode()) > max_body_bytes)
        ):
            return results_url, problem(
                400, message_id, None, "Invalid message",
                f"the body must be JSON text of at most {max_body_bytes} bytes",
                PROBLEM_INVALID_REQUEST,
            ), 400  # fmt: skip
        try:
            parsed = message.model_validate_json(body)
        except ValidationError as error:
            return results_url, problem(
                400, message_id, body, "Invalid message",
                f"The message does not match the {service} {version} message contract ({{id, "
                "request, replyTo?}, request as the HTTP route takes it); see errors.",
                PROBLEM_INVALID_REQUEST, **bounded_errors(field_errors(error)),
            ), 400  # fmt: skip
        reply_to = parsed.replyTo  # type: ignore[attr-defined]
        if reply_to is not None and endpoint is not None and urlsplit(reply_to).netloc != endpoint:
            return results_url, problem(
                400, message_id, body, "Invalid message",
                f"replyTo must be a queue of this region's SQS endpoint ({endpoint})",
                PROBLEM_INVALID_REQUEST,
                errors=[{"field": "replyTo", "message": "another endpoint"}],
            ), 400  # fmt: skip
        response = answer(parsed.request)  # type: ignore[attr-defined]
        if not isinstance(response, response_model):
            response = response_model.model_validate(response)
        caller_id = json.dumps(parsed.id)  # type: ignore[attr-defined]
        result = f'{{"id":{caller_id}{version_member}{response.model_dump_json()}}}'
        if len(result) > RESULT_LIMIT:
            return results_url, problem(
                500, message_id, body, "Result too large",
                f"the answer exceeds {RESULT_LIMIT} characters, more than a queue message may "
                "hold; send smaller requests", "about:blank",
            ), 500  # fmt: skip
        return reply_to or results_url, result, 200

    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        outgoing: dict[str, list[tuple[str, str]]] = {}
        raised: list[str] = []
        answered: list[tuple[str, str]] = []  # (message id, outcome) of each result to send
        gone = sunset_at is not None and clock.now() > sunset_at
        for record in event["Records"]:
            message_id = record["messageId"]
            try:
                destination, result, status = answer_record(message_id, record.get("body"), gone)
            except Exception:  # the model failed: a retry may succeed, the DLQ keeps it if not
                log.exception("message failed; it returns to the queue",
                              extra={"message_id": message_id})  # fmt: skip
                raised.append(message_id)
                continue
            found = outgoing.get(destination)
            if found is None:
                found = outgoing[destination] = []
            found.append((message_id, result))
            answered.append((message_id, OK if status == 200 else outcome(status)))
        unsent = _send_all(sender, outgoing, results_url, attributes, log)
        failures = raised + unsent
        # counted as what they are: an unsent result's message will be received again
        outcomes: dict[str, int] = {FAILED: len(failures)} if failures else {}
        retried = set(unsent)
        for message_id, name in answered:
            if message_id not in retried:
                outcomes[name] = outcomes.get(name, 0) + 1
        if count is not None:
            for name, number in outcomes.items():
                count(version, lifecycle.status, name, number)
        # The metric counts every outcome; the log tells what went wrong (DEBUG otherwise).
        (log.info if failures or len(outcomes) > 1 or OK not in outcomes else log.debug)(
            "batch",
            extra={
                "aws_request_id": getattr(context, "aws_request_id", None),
                "version": version,
                "records": len(event["Records"]),
                "outcomes": outcomes,
                "unsent": len(unsent),
                "retried": len(failures),
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            },
        )
        return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}

    return handle


def _send_all(
    sender: Sender,
    outgoing: dict[str, list[tuple[str, str]]],
    results_url: str,
    attributes: dict[str, Any],
    log: Any,
) -> list[str]:
    """Send each destination's results; a `replyTo` queue that refuses them (the version may
    not send there, or it does not exist) has them go to the results queue instead. The message
    ids whose result could not be sent, to be received again."""
    unsent: list[str] = []
    fallback: list[tuple[str, str]] = []
    for url, results in outgoing.items():
        try:
            failed = sender.send(url, [body for _, body in results], attributes)
        except RefusedError:
            if url != results_url:
                log.warning("replyTo refused; results go to the results queue",
                            extra={"reply_to": url, "messages": len(results)})  # fmt: skip
                fallback += results
                continue
            failed = list(range(len(results)))
        except Exception:
            failed = list(range(len(results)))
        if failed:
            log.warning("results not sent; their messages are received again",
                        extra={"queue": url, "messages": len(failed)})  # fmt: skip
            unsent += [results[index][0] for index in failed]
    if fallback:
        unsent += _send_all(sender, {results_url: fallback}, results_url, attributes, log)
    return unsent


def _chunks(bodies: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(first index, bodies) of at most 10 bodies and RESULT_LIMIT characters together."""
    start, size = 0, 0
    chunk: list[str] = []
    for index, body in enumerate(bodies):
        length = len(body)
        if chunk and (len(chunk) == SEND_BATCH_ENTRIES or size + length > RESULT_LIMIT):
            yield start, chunk
            start, chunk, size = index, [], 0
        chunk.append(body)
        size += length
    if chunk:
        yield start, chunk


def _lenient_id(body: Any) -> str | None:
    """The caller's id of a message that is otherwise unusable, when it has a readable one."""
    if not isinstance(body, str):
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        return None
    found = parsed.get("id") if isinstance(parsed, dict) else None
    return found if isinstance(found, str) and 0 < len(found) <= MESSAGE_ID_LIMIT else None
