"""A version's batch callers on SQS: the work queue its alias consumes, the dead-letter queue
for messages that kept failing, the results queue, who may use them, and alarms on both."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.settings import Consumer, Settings, VersionSettings
from mlserve_runtime.conventions import (
    CONSUMER_RECEIVE_ACTIONS,
    CONSUMER_SEND_ACTIONS,
    minimum_visibility_timeout,
)

MAX_MESSAGE_BYTES = 1_048_576  # SQS's largest (the provider's default is 256 KiB)
RETENTION_SECONDS = 4 * 86_400  # SQS's default: what a caller has to pick up a result
# A standard queue's dead letters keep their first enqueue time, so the DLQ keeps them longer
# than the work queue would have (AWS's advice), and as long as SQS allows: 14 days.
DEAD_LETTER_RETENTION_SECONDS = 14 * 86_400


@dataclass(frozen=True)
class VersionQueuesArgs:
    """Inputs of a VersionQueues."""

    settings: Settings
    version: VersionSettings
    tags: dict[str, str]


class VersionQueues(pulumi.ComponentResource):
    """`<prefix><service>_v<N>-<env>` (work), `...-dlq` and `...-results`: messages the version's
    alias has not answered after `maxReceiveCount` receives move to the dead-letter queue; the
    work queue's visibility timeout is 6x the function's timeout (plus the batching window)."""

    work: aws.sqs.Queue
    """The queue batch callers send requests to; protected while the version is active."""
    dead_letter: aws.sqs.Queue
    """Messages that failed `maxReceiveCount` times, kept 14 days for a redrive."""
    results: aws.sqs.Queue
    """Where the version sends each answer; protected while the version is active."""

    def __init__(
        self, name: str, args: VersionQueuesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlserve:queues:VersionQueues", name, None, opts)
        settings, version = args.settings, args.version
        queue = version.queue
        assert queue is not None, "only versions with a queue get VersionQueues"
        child = pulumi.ResourceOptions(parent=self)
        # As the function and alias: a caller of an active major keeps its queues.
        protected = pulumi.ResourceOptions(parent=self, protect=version.status == "active")
        self.dead_letter = aws.sqs.Queue(
            f"{name}-dlq",
            name=version.queue_name("deadLetter"),
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags=args.tags,
            opts=child,
        )
        self.work = aws.sqs.Queue(
            f"{name}-work",
            name=version.queue_name("work"),
            visibility_timeout_seconds=visibility_timeout(version),
            message_retention_seconds=RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            redrive_policy=self.dead_letter.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": queue.max_receive_count}
                )
            ),
            tags=args.tags,
            opts=protected,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-sources",
            queue_url=self.dead_letter.id,
            redrive_allow_policy=self.work.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child,
        )
        self.results = aws.sqs.Queue(
            f"{name}-results",
            name=version.queue_name("results"),
            message_retention_seconds=RETENTION_SECONDS,
            max_message_size=MAX_MESSAGE_BYTES,  # the runtime's results stay below it
            sqs_managed_sse_enabled=True,
            tags=args.tags,
            opts=protected,
        )
        consumers = [c for c in version.owner.consumers if version.key in c.versions]
        for queue_resource, kind, actions in (
            (self.work, "work", list(CONSUMER_SEND_ACTIONS)),
            (self.results, "results", list(CONSUMER_RECEIVE_ACTIONS)),
        ):
            aws.sqs.QueuePolicy(
                f"{name}-{kind}-policy",
                queue_url=queue_resource.id,
                policy=queue_resource.arn.apply(
                    functools.partial(queue_policy, consumers=consumers, actions=actions)
                ),
                opts=child,
            )
        self._alarms(name, settings, version, child)
        self.register_outputs(
            {"work": self.work.url, "results": self.results.url, "deadLetter": self.dead_letter.url}
        )

    def _alarms(
        self, name: str, settings: Settings, version: VersionSettings, opts: pulumi.ResourceOptions
    ) -> None:
        """Dead letters (any at all) and a work queue falling behind (its oldest message)."""
        queue = version.queue
        assert queue is not None
        for kind, resource, metric, threshold, what in (
            ("dead-letters", self.dead_letter, "ApproximateNumberOfMessagesVisible", 0,
             "messages failed maxReceiveCount times; read them, fix the cause, redrive"),
            ("oldest-message", self.work, "ApproximateAgeOfOldestMessage",
             queue.oldest_message_alarm_seconds,
             f"a message waits longer than {queue.oldest_message_alarm_seconds}s; the version "
             "falls behind its batch callers (raise maxConcurrency) or fails them"),
        ):  # fmt: skip
            aws.cloudwatch.MetricAlarm(
                f"{name}-{kind}",
                name=f"{version.queue_name(kind='work')}-{kind}",
                alarm_description=f"{version.service} {version.key} ({settings.environment}): "
                f"{what}",
                namespace="AWS/SQS",
                metric_name=metric,
                dimensions={"QueueName": resource.name},
                statistic="Maximum",
                period=300,
                evaluation_periods=1,
                comparison_operator="GreaterThanThreshold",
                threshold=threshold,
                treat_missing_data="notBreaching",
                opts=opts,
            )


def visibility_timeout(version: VersionSettings) -> int:
    """The work queue's visibility timeout: the least the convention allows."""
    assert version.queue is not None
    return minimum_visibility_timeout(version.timeout_seconds, version.queue.batch_window_seconds)


def queue_policy(arn: str, consumers: list[Consumer], actions: list[str]) -> str:
    """A queue's resource policy: TLS only, and the version's consumers (of any account; another
    account's role needs this grant besides its own identity policy) with `actions`."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sqs:*",
            "Resource": arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if consumers:
        statements.append(
            {
                "Sid": "Consumers",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(c.role_arn for c in consumers)},
                "Action": actions,
                "Resource": arn,
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
