"""Batch callers reach exactly their version: every SQS event source mapping feeds the alias of
the version whose work queue it reads (never the bare function, whose $LATEST bypasses the
alias, nor another version), reports partial batch failures (else one bad message returns the
whole batch), and its queue hides a message for at least 6x the function's timeout (Lambda
refuses less than 1x; AWS advises 6x). No identity policy grants SQS actions on every queue."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import (
    VISIBILITY_TIMEOUT_FACTOR,
    VersionRef,
    alias_name,
    function_name,
    minimum_visibility_timeout,
    parse_function_name,
)
from permissions import IDENTITY_POLICY_TYPES
from properties import Unknown, Unknowns, guarded, items, lookup, text, unknown, whole_number
from resources import ALIAS, LAMBDA_ARN
from resources import EVENT_SOURCE_MAPPING as MAPPING
from stack_config import stack_config
from stack_index import StackIndex, index_stack, linked, source_queue_name

PARTIAL_FAILURES = "ReportBatchItemFailures"
LAMBDA_DEFAULT_TIMEOUT = 3  # seconds, when a function sets none


def queues_feed_their_own_alias_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Check each event source mapping against the queue it reads and the alias it feeds."""
    index = index_stack(args.resources)
    unknowns = Unknowns()
    for mapping in index.of_type(MAPPING):
        for problem in _mapping_problems(mapping, index, unknowns):
            report_violation(problem, mapping.urn)
    unknowns.raise_if_any()


def _mapping_problems(
    mapping: PolicyResource, index: StackIndex, unknowns: Unknowns
) -> Iterator[str]:
    config = stack_config()
    where = f"event source mapping {mapping.name!r}"
    name = source_queue_name(mapping)
    if name is None:
        return  # not SQS: no batch caller's concern
    if isinstance(name, Unknown):
        unknowns.note(f"{mapping.name}: the queue it reads")
        return
    ref = _queue_version(name, config.name_prefix, config.environment or "")
    if ref is None:
        yield (
            f"{where} reads queue {name!r}, which is no version's work queue "
            f"(<namePrefix><service>_v<N>-<environment>); a version's function takes messages "
            "only from its own work queue, whose messages follow its contract"
        )
        return
    function = function_name(config.name_prefix, ref.service, ref.version)
    alias = alias_name(config.environment or "", ref.version)
    yield from _target_problems(mapping, where, ref, function, alias, unknowns)
    types = lookup(mapping.props, "functionResponseTypes")
    if isinstance(types, Unknown):
        unknowns.note(f"{mapping.name}.functionResponseTypes")
    elif PARTIAL_FAILURES not in list(items(mapping.props, "functionResponseTypes")):
        yield (
            f"{where} ({ref}) does not report partial batch failures: one message that fails "
            f"returns the whole batch, so its answered messages are answered again. Set "
            f"functionResponseTypes: [{PARTIAL_FAILURES}]"
        )
    filters = lookup(mapping.props, "filterCriteria")
    if isinstance(filters, Unknown):
        unknowns.note(f"{mapping.name}.filterCriteria")
    elif filters:
        yield (
            f"{where} ({ref}) filters its messages: Lambda deletes an SQS message that matches no "
            "filter without invoking the function, so a batch caller's message would vanish "
            "unanswered. Remove filterCriteria; every message gets a result or a problem"
        )
    queue = index.queues_by_name.get(name)
    if queue is not None:
        owner = index.functions_by_name.get(function)
        yield from _visibility_problems(mapping, queue, name, ref, owner, unknowns)


def _target_problems(
    mapping: PolicyResource, where: str, ref: VersionRef, function: str, alias: str,
    unknowns: Unknowns,
) -> Iterator[str]:  # fmt: skip
    """The mapping invokes `function:alias`, by ARN or through the alias resource it names."""
    target = text(mapping.props, "functionName")
    if isinstance(target, Unknown):
        aliases = linked(mapping, "functionName", ALIAS)
        if not aliases:
            unknowns.note(f"{mapping.name}.functionName")
            return
        names = (text(aliases[0].props, "functionName"), text(aliases[0].props, "name"))
        if any(isinstance(n, Unknown) for n in names):
            unknowns.note(f"{mapping.name}: the alias it feeds")
            return
        found_function, qualifier = str(names[0]).rsplit(":", 1)[-1], names[1]
    else:
        match = LAMBDA_ARN.fullmatch(target or "")
        found_function = match.group(1) if match else (target or "").rsplit(":", 1)[-1]
        qualifier = match.group(2) if match else None
    if found_function != function or qualifier != alias:
        shown = f"{found_function}:{qualifier}" if qualifier else f"{found_function} (unqualified)"
        yield (
            f"{where} feeds {shown}, but reads the work queue of {ref}: its messages must reach "
            f"the alias {function}:{alias} (functionName = the alias ARN), never the bare "
            "function ($LATEST, bypassing the alias) or another version"
        )


def _visibility_problems(
    mapping: PolicyResource, queue: PolicyResource, name: str, ref: VersionRef,
    function: PolicyResource | None, unknowns: Unknowns,
) -> Iterator[str]:  # fmt: skip
    if function is None:
        return  # lambda-function-name-matches-version and the removal policy speak for it
    visibility = lookup(queue.props, "visibilityTimeoutSeconds")
    timeout = lookup(function.props, "timeout")
    window = lookup(mapping.props, "maximumBatchingWindowInSeconds")
    if any(isinstance(value, Unknown) for value in (visibility, timeout, window)):
        unknowns.note(f"{queue.name}.visibilityTimeoutSeconds, the timeout and batching window")
        return
    seconds = whole_number(visibility) if visibility is not None else 30  # SQS's default
    limit = minimum_visibility_timeout(
        whole_number(timeout) or LAMBDA_DEFAULT_TIMEOUT, whole_number(window) or 0
    )
    if seconds is None or seconds < limit:
        yield (
            f"queue {name!r} ({ref}) hides a received message for {seconds}s, less than "
            f"{VISIBILITY_TIMEOUT_FACTOR}x its function's timeout plus the batching window "
            f"({limit}s): a message still being answered would be handed out again, and Lambda "
            "refuses a mapping whose function outlasts it. Set visibilityTimeoutSeconds to at "
            f"least {limit}"
        )


def _queue_version(name: str, name_prefix: str, environment: str) -> VersionRef | None:
    """The version a work queue `<prefix><service>_v<N>-<environment>` belongs to."""
    suffix = f"-{environment}"
    if not environment or not name.startswith(name_prefix) or not name.endswith(suffix):
        return None
    return parse_function_name(name_prefix, name[: -len(suffix)])


ROLE = "aws:iam/role:Role"
ATTACHMENTS = ("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
               "aws:iam/policyAttachment:PolicyAttachment")  # fmt: skip
# AWS-managed policies that grant SQS actions on every queue (AmazonSQSFullAccess, ...ReadOnly...,
# and the Lambda execution role for SQS event sources)
AWS_MANAGED_SQS = re.compile(
    r"^arn:aws[a-z-]*:iam::aws:policy/(service-role/)?(AmazonSQS|AWSLambdaSQSQueueExecutionRole)"
)


def queue_grants_scoped_validator(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Identity policies (inline, a role's inline ones, attached AWS-managed ones) name the SQS
    actions and the queues they grant."""
    documents: list[Any] = []
    managed: list[Any] = []
    if args.resource_type in IDENTITY_POLICY_TYPES:
        documents.append(lookup(args.props, "policy"))
    elif args.resource_type in ATTACHMENTS:
        managed.append(lookup(args.props, "policyArn"))
    elif args.resource_type == ROLE:
        for key in ("inlinePolicies", "managedPolicyArns"):
            if isinstance(lookup(args.props, key), Unknown):
                unknown(key)
        documents += [lookup(p, "policy") for p in items(args.props, "inlinePolicies")]
        managed += list(items(args.props, "managedPolicyArns"))
    if any(isinstance(arn, Unknown) for arn in managed):
        unknown("policyArn")
    for arn in managed:
        if isinstance(arn, str) and AWS_MANAGED_SQS.match(arn):
            report_violation(
                f"{args.name!r} attaches {arn}, which grants SQS on every queue; grant the "
                "actions a role needs on its own queues by ARN instead",
                None,
            )
    if any(isinstance(document, Unknown) for document in documents):
        unknown("policy")
    for document in documents:
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except json.JSONDecodeError:
                continue  # no-wildcard-principals reports documents that are not JSON
        for problem in _broad_sqs_grants(document):
            report_violation(f"{args.name!r}: {problem}", None)


def _broad_sqs_grants(document: Any) -> Iterator[str]:
    statements = lookup(document, "Statement")
    listed = [statements] if isinstance(statements, dict) else list(items(statements))
    for number, statement in enumerate(listed, start=1):
        if lookup(statement, "Effect") != "Allow":
            continue
        sid = lookup(statement, "Sid") or f"#{number}"
        not_actions = _strings(lookup(statement, "NotAction"))
        if lookup(statement, "NotAction") is not None:
            # everything but the listed actions: SQS too, unless all of it is listed
            if not any(_covers_all_sqs(action) for action in not_actions):
                yield (
                    f"statement {sid} allows every action but {', '.join(not_actions)}, SQS on "
                    "every queue among them; name the actions it allows"
                )
            continue
        actions = _strings(lookup(statement, "Action"))
        sqs = [a for a in actions if _may_match_sqs(a)]
        if not sqs:
            continue
        if lookup(statement, "NotResource") is not None:
            excluded = ", ".join(_strings(lookup(statement, "NotResource")))
            yield (
                f"statement {sid} grants {', '.join(sqs)} on every resource but {excluded}; "
                "name the queues by ARN"
            )
            continue
        resources = _strings(lookup(statement, "Resource"))
        if any(_wildcard(action) for action in sqs):
            yield (
                f"statement {sid} allows {', '.join(sqs)}; name the SQS actions (a version "
                "receives and deletes from its work queue and sends to its results queue)"
            )
        if not resources or any(_wildcard(resource) for resource in resources):
            yield (
                f"statement {sid} grants SQS actions on {resources or 'no Resource'}; name "
                "the queues by ARN, so a role reaches only its own version's queues"
            )


def _wildcard(text: str) -> bool:
    return "*" in text or "?" in text


def _pattern(text: str) -> re.Pattern[str]:
    """An IAM pattern (`*` any run, `?` one character, any case) as a regular expression."""
    escaped = re.escape(text.lower()).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(f"^{escaped}$")


def _may_match_sqs(action: str) -> bool:
    """Whether an IAM action pattern can match some SQS action."""
    if action == "*":
        return True
    service, colon, _ = action.partition(":")
    return bool(colon) and _pattern(service).fullmatch("sqs") is not None


def _covers_all_sqs(action: str) -> bool:
    """Whether an IAM action pattern matches every SQS action (`sqs:*`, `*`)."""
    return action == "*" or (_may_match_sqs(action) and action.partition(":")[2] == "*")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in items(value) if isinstance(item, str)] if value is not None else []


queues_feed_their_own_alias = StackValidationPolicy(
    name="queues-feed-their-own-alias",
    description=(
        "Requires every SQS event source mapping to read a version's own work queue and feed "
        "that version's alias, to report partial batch failures, and its queue's visibility "
        "timeout to be at least 6x the function's timeout."
    ),
    validate=guarded(queues_feed_their_own_alias_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Create mappings with `queue` in the version's config: the program sets functionName to "
        "the alias ARN, functionResponseTypes to [ReportBatchItemFailures] and the work queue's "
        "visibility timeout to 6x the function timeout plus the batching window."
    ),
)

queue_grants_scoped = ResourceValidationPolicy(
    name="queue-grants-scoped",
    description="Prohibits identity policies that grant sqs:* or SQS actions on every queue.",
    validate=guarded(queue_grants_scoped_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    remediation_steps=(
        "Grant the SQS actions a role needs on the queues it uses, by ARN: a version's role "
        "receives, deletes and reads attributes on its work queue and sends to its results queue."
    ),
)
