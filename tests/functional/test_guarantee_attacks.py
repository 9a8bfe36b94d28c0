"""The guarantee under attack: a caller of an active (or not yet sunset) major is never broken.

Each attack is what a hostile or careless pull request can change: the stack config (and code it
points at), the policy config CI hands the pack, or what a rewritten program registers. Each runs
through the real program under the recording monitor and the real pack over the Analyzer
protocol, judged by the ledger of the prod stack as deployed, and must be blocked by a mandatory
violation that names what it breaks. The allowed changes at the end must pass untouched.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlserve.analyzer import PolicyPackError, RunningPack, Violation, analyze_run, running_pack
from mlserve.ledger import policy_config, policy_config_from_stack_output
from mlserve.offline import PROJECT_ROOT, ProgramRun, run_program
from mlserve.stack_files import stack_config
from tests.conftest import TODAY
from tests.support.stacks import with_api

STACK = "prod"
JSON_KEYS = ("mlserve:services", "mlserve:api")
DAY = date.fromisoformat(TODAY)
FOREIGN_ACCOUNT = "210987654321"
Config = dict[str, Any]
PolicyConfig = dict[str, Any]


@dataclass(frozen=True)
class Attack:
    """One way to break callers, and what the verdict must name."""

    name: str
    names: str
    """Text one mandatory violation must contain (the version, route or resource it breaks)."""
    policy: str
    """The policy that must block it."""
    config: Callable[[Config, Path], object] | None = None
    """An edit of the stack config (JSON values parsed), given a folder for edited code."""
    ledger: Callable[[PolicyConfig], object] | None = None
    """An edit of the policy config the pack is given."""
    mutant: Callable[[ProgramRun], ProgramRun] | None = None
    """What a rewritten program registers instead of the real one's deployment."""


def services(config: Config) -> dict[str, Any]:
    return config["mlserve:services"]


def version(config: Config, service: str, key: str) -> dict[str, Any]:
    return services(config)[service]["versions"][key]


def days(n: int) -> str:
    return (DAY + timedelta(days=n)).isoformat()


def deprecate(config: Config, service: str, key: str, since: str, sunset: str) -> None:
    version(config, service, key).update(status="deprecated", deprecatedOn=since, sunsetOn=sunset)


def code_copy(
    workdir: Path, service: str, key: str, edit: Callable[[str], str], *, file: str = "contract.py"
) -> str:
    """A code folder of the project (`workdir`): a copy of services/<service>/<key> with one file
    edited, as a pull request would add it."""
    target = workdir / f"{service}-{key}-edited"
    shutil.copytree(
        PROJECT_ROOT / "services" / service / key,
        target,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    path = target / file
    edited = edit(path.read_text())
    assert edited != path.read_text(), f"the edit of {path} changed nothing"
    path.write_text(edited)
    return target.relative_to(PROJECT_ROOT).as_posix()


def window_zero_and_sunset_in(n: int) -> Callable[[Config, Path], None]:
    """The stack's window lowered to 0 and the active sentiment v1 deprecated for `n` days."""

    def apply(config: Config, _: Path) -> None:
        config["mlserve:deprecationWindowDays"] = "0"
        deprecate(config, "sentiment", "v1", TODAY, days(n))

    return apply


def delete_sentiment_v1(config: Config, _: Path) -> None:
    del services(config)["sentiment"]["versions"]["v1"]
    services(config)["sentiment"]["consumers"][1]["versions"] = ["v2"]


def rename_churn_v2_to_v3(config: Config, workdir: Path) -> None:
    """churn v2 moved to key v3, its code copied to say v3 (else the code check blocks it too)."""
    versions = services(config)["churn"]["versions"]
    versions["v3"] = versions.pop("v2")
    versions["v3"]["code"] = code_copy(
        workdir, "churn", "v2", lambda text: text.replace('"version": "v2"', '"version": "v3"')
    )
    versions["v1"]["successor"] = "v3"


def open_sentiment(config: Config, _: Path) -> None:
    services(config)["sentiment"]["auth"] = "none"
    del services(config)["sentiment"]["consumers"]


def unscoped_service_grant(permission: dict[str, Any]) -> None:
    permission["principal"] = "events.amazonaws.com"
    del permission["sourceArn"]


def route_renamed(service: str, key: str, old: str, new: str) -> Callable[[Config, Path], None]:
    """A config edit pointing a version at a copy of its code whose SURFACE renames a route."""

    def apply(config: Config, workdir: Path) -> None:
        code = code_copy(workdir, service, key, lambda text: text.replace(f'"{old}"', f'"{new}"'))
        version(config, service, key).update(code=code)

    return apply


def each_ledger_policy(change: Callable[[dict[str, Any]], None]) -> Callable[[PolicyConfig], None]:
    """An edit applied to the settings of every policy that reads the ledger."""

    def apply(config: PolicyConfig) -> None:
        for settings in config.values():
            change(settings)

    return apply


def ledger_of(run: ProgramRun) -> PolicyConfig:
    return policy_config_from_stack_output(json.loads(json.dumps(run.outputs)), today=TODAY)


# Hostile programs: the real deployment with one registration changed, as edited components
# would register it (inputs and the outputs the provider echoes alike).


def mutated(
    run: ProgramRun, name: str, type_: str, change: Callable[[dict[str, Any]], object]
) -> ProgramRun:
    registration = run.by_name(name, type_)
    inputs, outputs = copy.deepcopy(registration.inputs), copy.deepcopy(registration.outputs)
    change(inputs)
    change(outputs)
    changed = replace(registration, inputs=inputs, outputs=outputs)
    return replace(
        run, registrations=[changed if r is registration else r for r in run.registrations]
    )


def without(run: ProgramRun, name: str, type_: str) -> ProgramRun:
    gone = run.by_name(name, type_)
    return replace(run, registrations=[r for r in run.registrations if r is not gone])


INTEGRATION = "aws:apigatewayv2/integration:Integration"
PERMISSION = "aws:lambda/permission:Permission"
ROUTE = "aws:apigatewayv2/route:Route"
ALIAS = "aws:lambda/alias:Alias"
FUNCTION = "aws:lambda/function:Function"
STAGE = "aws:apigatewayv2/stage:Stage"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
QUEUE = "aws:sqs/queue:Queue"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
API = "aws:apigatewayv2/api:Api"
API_MAPPING = "aws:apigatewayv2/apiMapping:ApiMapping"


def alias_arn(run: ProgramRun, name: str) -> str:
    return str(run.by_name(name, ALIAS).outputs["arn"])


def foreign(arn: str) -> str:
    return re.sub(r":\d{12}:", f":{FOREIGN_ACCOUNT}:", arn, count=1)


@functools.cache
def per_service_deployed() -> ProgramRun:
    """The prod stack on the perService layout, as `pulumi up` would leave it after the move."""
    run = run_program(with_api(stack_config(STACK), layout="perService"), stack=STACK, today=TODAY)
    assert run.error is None, run.error
    return run


def on_api(run: ProgramRun, name: str, type_: str, api: str) -> ProgramRun:
    """A registration put on another API: its apiId and the dependency the engine records."""
    moved, target = run.by_name(name, type_), run.by_name(api, API)
    changed = replace(
        moved,
        inputs={**moved.inputs, "apiId": target.id},
        outputs={**moved.outputs, "apiId": target.id},
        property_dependencies={**moved.property_dependencies, "apiId": (target.urn,)},
    )
    return replace(run, registrations=[changed if r is moved else r for r in run.registrations])


def drop_domain(config: Config, _: Path) -> None:
    config["mlserve:api"]["layout"] = "perService"
    del config["mlserve:api"]["domain"], config["mlserve:api"]["docsUrl"]


ATTACKS = [
    # --- dates: promises already made to callers -------------------------------------------
    Attack(
        "back-dated deprecation of an active version",
        config=lambda c, _: deprecate(c, "sentiment", "v1", "2020-01-01", "2020-07-01"),
        names="sentiment v1", policy="deprecations-keep-their-promises",
    ),
    Attack(
        "deprecation window lowered to 0 with a sunset tomorrow",
        config=window_zero_and_sunset_in(1),
        names="sentiment v1", policy="deprecations-keep-their-promises",
    ),
    Attack(
        "window lowered in the config and in a forged ledger: the pack's floor holds",
        config=window_zero_and_sunset_in(30),
        ledger=each_ledger_policy(lambda s: s["ledger"].update(deprecationWindowDays=0)),
        names="the earliest sunset is " + days(90), policy="deprecations-keep-their-promises",
    ),
    Attack(
        "pack floor lowered in the policy config: the ledger's window holds",
        config=window_zero_and_sunset_in(30),
        ledger=lambda p: p["deprecations-keep-their-promises"].update(
            minimumDeprecationWindowDays=0
        ),
        names="the earliest sunset is " + days(180), policy="deprecations-keep-their-promises",
    ),
    Attack(
        "deprecated version's sunset moved earlier",
        config=lambda c, _: version(c, "churn", "v1").update(sunsetOn="2027-03-01"),
        names="churn v1", policy="deprecations-keep-their-promises",
    ),
    Attack(
        "deprecated version's announced day moved back",
        config=lambda c, _: version(c, "churn", "v1").update(deprecatedOn="2026-06-01"),
        names="churn v1", policy="deprecations-keep-their-promises",
    ),
    # --- breaking a version without removing it -----------------------------------------------
    Attack(
        "handler that names no function",
        config=lambda c, _: version(c, "churn", "v2").update(handler="app.no_such_function"),
        names="churn v2", policy="lambda-code-is-its-version",
    ),
    Attack(
        "handler in a module the code does not hold (the program refuses it; a rewritten one)",
        mutant=lambda run: mutated(
            run, "churn-v2", FUNCTION, lambda p: p.update(handler="missing.handler")
        ),
        names="names module missing.py", policy="lambda-code-is-its-version",
    ),
    Attack(
        "code of another version",
        config=lambda c, _: version(c, "churn", "v2").update(code="services/churn/v1"),
        names="would run the code of churn v1", policy="lambda-code-is-its-version",
    ),
    Attack(
        "code of another service",
        config=lambda c, _: version(c, "sentiment", "v2").update(code="services/churn/v2"),
        names="would run the code of churn v2", policy="lambda-code-is-its-version",
    ),
    Attack(
        "code that drops POST /predict",
        config=route_renamed("churn", "v2", "POST /predict", "POST /score"),
        names="route POST /churn/v2/predict", policy="versions-keep-their-surface",
    ),
    Attack(
        "code that changes the method of a route",
        config=route_renamed("churn", "v2", "POST /predict", "PUT /predict"),
        names="route POST /churn/v2/predict", policy="versions-keep-their-surface",
    ),
    Attack(
        "deprecated version dropping a route before its sunset",
        config=route_renamed("churn", "v1", "POST /predict", "POST /score"),
        names="route POST /churn/v1/predict", policy="versions-keep-their-surface",
    ),
    Attack(
        "auth none -> iam",
        config=lambda c, _: services(c)["churn"].update(auth="iam"),
        names="churn v2: route POST /churn/v2/predict answered unsigned requests",
        policy="versions-keep-their-surface",
    ),
    Attack(
        "throttling of 0 requests per second",
        config=lambda c, _: c["mlserve:api"]["throttle"].update(rateLimit=0),
        names="throttlingRateLimit = 0", policy="versions-keep-their-surface",
    ),
    Attack(
        "throttling burst of 0",
        config=lambda c, _: c["mlserve:api"]["throttle"].update(burstLimit=0),
        names="throttlingBurstLimit = 0", policy="versions-keep-their-surface",
    ),
    Attack(
        "custom domain removed",
        config=lambda c, _: c["mlserve:api"].pop("domain"),
        names="the custom domain models.example.com", policy="versions-keep-their-surface",
    ),
    Attack(
        "environment renamed (every alias replaced)",
        config=lambda c, _: c.update({"mlserve:environment": "production"}),
        names="churn v2", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "name prefix changed (every function replaced)",
        config=lambda c, _: c.update({"mlserve:namePrefix": "x-"}),
        names="churn v2", policy="no-removal-of-non-deprecated-versions",
    ),
    # --- removal -----------------------------------------------------------------------------
    Attack(
        "active version's entry deleted",
        config=delete_sentiment_v1,
        names="sentiment v1 was active", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "deprecated version deleted before its sunset",
        config=lambda c, _: services(c)["churn"]["versions"].pop("v1"),
        names="churn v1", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "active version renamed to a new key",
        config=rename_churn_v2_to_v3,
        names="churn v2 was active", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "alias pinned to a version the function never published",
        config=lambda c, _: version(c, "churn", "v2").update(pin=999),
        names="churn_v2 would serve version 999", policy="pinned-versions-exist",
    ),
    # --- failing open: the policy config ----------------------------------------------------
    Attack(
        "no ledger",
        ledger=lambda p: p.clear(),
        names="no ledger", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "empty ledger",
        ledger=each_ledger_policy(lambda s: s["ledger"].update(versions={})),
        names="the ledger lists no versions", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "malformed ledger",
        ledger=each_ledger_policy(lambda s: s["ledger"].update(versions="oops")),
        names="the ledger cannot be used", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "another stack's ledger",
        ledger=each_ledger_policy(lambda s: s["ledger"].update(stack="dev")),
        names="the ledger is stack 'dev'", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "newStack beside a ledger",
        ledger=each_ledger_policy(lambda s: s.update(newStack=True)),
        names="drop newStack", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "ledger without its format marker",
        ledger=each_ledger_policy(lambda s: s["ledger"].pop("ledgerVersion", None)),
        names="ledgerVersion None is not one this pack reads",
        policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "ledger of the first format: a deletion is still judged by it",
        config=delete_sentiment_v1,
        ledger=each_ledger_policy(
            lambda s: s.update(ledger={
                service: {key: {"status": entry["status"], "sunsetOn": entry.get("sunsetOn")}
                          for key, entry in versions.items()}
                for service, versions in s["ledger"]["versions"].items()
            })
        ),
        names="sentiment v1 was active", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "forged publishedVersion in the ledger",
        ledger=each_ledger_policy(
            lambda s: s["ledger"]["versions"]["churn"]["v2"].update(publishedVersion="0")
        ),
        names="versions.churn.v2.publishedVersion '0'",
        policy="no-removal-of-non-deprecated-versions",
    ),
    # --- hostile programs: what the pack reads is what is registered ------------------------
    Attack(
        "integration URI on another version's alias, dependencies naming its own",
        mutant=lambda run: mutated(
            run, "churn-v2-integration", INTEGRATION,
            lambda p: p.update(integrationUri=alias_arn(run, "churn-v1-alias")),
        ),
        names="'POST /churn/v2/predict'", policy="api-routes-invoke-own-version",
    ),
    Attack(
        "integration URI on another account's function",
        mutant=lambda run: mutated(
            run, "churn-v2-integration", INTEGRATION,
            lambda p: p.update(integrationUri=foreign(alias_arn(run, "churn-v2-alias"))),
        ),
        names="'POST /churn/v2/predict'", policy="api-routes-invoke-own-version",
    ),
    Attack(
        "integration URI on the bare function ($LATEST)",
        mutant=lambda run: mutated(
            run, "churn-v2-integration", INTEGRATION,
            lambda p: p.update(integrationUri=alias_arn(run, "churn-v2-alias").rsplit(":", 1)[0]),
        ),
        names="unqualified ($LATEST)", policy="api-routes-invoke-own-version",
    ),
    Attack(
        "grant to another account's API",
        mutant=lambda run: mutated(
            run, "churn-v2-post-predict-invoke", PERMISSION,
            lambda p: p.update(sourceArn=foreign(p["sourceArn"])),
        ),
        names="churn-v2-post-predict-invoke", policy="api-grants-name-own-routes",
    ),
    Attack(
        "grant of v2's alias to v1's route",
        mutant=lambda run: mutated(
            run, "churn-v2-post-predict-invoke", PERMISSION,
            lambda p: p.update(sourceArn=p["sourceArn"].replace("/churn/v2/", "/churn/v1/")),
        ),
        names="churn v2", policy="api-grants-name-own-routes",
    ),
    Attack(
        "service principal without source ARN or account",
        mutant=lambda run: mutated(
            run, "churn-v2-post-predict-invoke", PERMISSION,
            unscoped_service_grant,
        ),
        names="events.amazonaws.com", policy="lambda-permissions-scoped",
    ),
    Attack(
        "grant to every principal",
        mutant=lambda run: mutated(
            run, "churn-v2-post-predict-invoke", PERMISSION, lambda p: p.update(principal="*")
        ),
        names="'*'", policy="no-wildcard-principals",
    ),
    Attack(
        "alias serving $LATEST",
        mutant=lambda run: mutated(
            run, "churn-v2-alias", ALIAS, lambda p: p.update(functionVersion="$LATEST")
        ),
        names="$LATEST", policy="lambda-alias-serves-published-version",
    ),
    Attack(
        "active version unprotected",
        mutant=lambda run: replace(
            run,
            registrations=[
                replace(r, protect=False) if r.name == "churn-v2" and r.type == FUNCTION else r
                for r in run.registrations
            ],
        ),
        names="active version churn v2", policy="active-versions-protected",
    ),
    Attack(
        "route of an active version not registered",
        mutant=lambda run: without(run, "churn-v2-post-predict", ROUTE),
        names="route POST /churn/v2/predict", policy="versions-keep-their-surface",
    ),
    Attack(
        "route switched to IAM auth by the program",
        mutant=lambda run: mutated(
            run, "churn-v2-post-predict", ROUTE, lambda p: p.update(authorizationType="AWS_IAM")
        ),
        names="would require AWS_IAM", policy="versions-keep-their-surface",
    ),
    Attack(
        "alias of an active version not registered",
        mutant=lambda run: without(run, "churn-v2-alias", ALIAS),
        names="churn v2", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "code of another version registered by the program",
        mutant=lambda run: mutated(
            run, "churn-v2", FUNCTION,
            lambda p: p.update(code=run.by_name("churn-v1", FUNCTION).inputs["code"]),
        ),
        names="would run the code of churn v1", policy="lambda-code-is-its-version",
    ),
    Attack(
        "handler changed by the program",
        mutant=lambda run: mutated(
            run, "churn-v2", FUNCTION, lambda p: p.update(handler="app.gone")
        ),
        names="churn v2", policy="lambda-code-is-its-version",
    ),
    # --- batch callers: a queue version's queues, mapping and role ------------------------
    Attack(
        "queue of an active version dropped from the config",
        config=lambda c, _: version(c, "sentiment", "v2").pop("queue"),
        names="sentiment v2: its work queue", policy="versions-keep-their-surface",
    ),
    Attack(
        "mapping of an active version's queue not registered",
        mutant=lambda run: without(run, "sentiment-v2-queue-mapping", MAPPING),
        names="nothing would read its work queue", policy="versions-keep-their-surface",
    ),
    Attack(
        "queue dropped while the ledger shows messages in it",
        config=lambda c, _: version(c, "sentiment", "v2").pop("queue"),
        ledger=each_ledger_policy(
            lambda s: s["ledger"]["versions"]["sentiment"]["v2"].update(
                queueMessages={"work": 3, "results": 0, "deadLetter": 0})
        ),
        names="held 3 message(s)", policy="no-removal-of-non-deprecated-versions",
    ),
    Attack(
        "mapping of an active version's queue disabled",
        mutant=lambda run: mutated(
            run, "sentiment-v2-queue-mapping", MAPPING, lambda p: p.update(enabled=False)
        ),
        names="nothing would read its work queue", policy="versions-keep-their-surface",
    ),
    Attack(
        "mapping on the bare function, bypassing the alias",
        mutant=lambda run: mutated(
            run, "sentiment-v2-queue-mapping", MAPPING,
            lambda p: p.update(functionName=run.by_name("sentiment-v2", FUNCTION).outputs["arn"]),
        ),
        names="(unqualified)", policy="queues-feed-their-own-alias",
    ),
    Attack(
        "mapping feeding another version's alias",
        mutant=lambda run: mutated(
            run, "sentiment-v2-queue-mapping", MAPPING,
            lambda p: p.update(functionName=alias_arn(run, "sentiment-v1-alias")),
        ),
        names="sentiment_v1:prod_v1", policy="queues-feed-their-own-alias",
    ),
    Attack(
        "mapping without partial batch responses",
        mutant=lambda run: mutated(
            run, "sentiment-v2-queue-mapping", MAPPING,
            lambda p: p.update(functionResponseTypes=[]),
        ),
        names="partial batch failures", policy="queues-feed-their-own-alias",
    ),
    Attack(
        "work queue hiding messages for less than the function runs",
        mutant=lambda run: mutated(
            run, "sentiment-v2-queues-work", QUEUE,
            lambda p: p.update(visibilityTimeoutSeconds=5),
        ),
        names="hides a received message for 5s", policy="queues-feed-their-own-alias",
    ),
    Attack(
        "execution role allowed every SQS action on every queue",
        mutant=lambda run: mutated(
            run, "sentiment-v2-policy", ROLE_POLICY,
            lambda p: p.update(policy=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]})),
        ),
        names="sqs:*", policy="queue-grants-scoped",
    ),
    # --- per-service APIs (mlserve:api.layout perService) ------------------------------------
    Attack(
        "move to per-service APIs and drop the custom domain",
        config=drop_domain,
        names="the custom domain models.example.com", policy="versions-keep-their-surface",
    ),
    Attack(
        "move layouts on the execute-api URL of a stack without a domain",
        config=drop_domain,
        ledger=each_ledger_policy(lambda s: s["ledger"].update(domain=None)),
        names="mlserve:api.layout would change from single to perService",
        policy="versions-keep-their-surface",
    ),
    Attack(
        "a service's API no longer mapped on the domain",
        mutant=lambda _: without(per_service_deployed(), "api-churn-domain-mapping", API_MAPPING),
        names="no API mapping with key 'churn'", policy="versions-keep-their-surface",
    ),
    Attack(
        "a service's API mapped under another key",
        mutant=lambda _: mutated(per_service_deployed(), "api-churn-domain-mapping", API_MAPPING,
                                 lambda p: p.update(apiMappingKey="churn-api")),
        names="https://models.example.com/churn/... would not reach churn's API",
        policy="versions-keep-their-surface",
    ),
    Attack(
        "a route put on another service's API",
        mutant=lambda _: on_api(per_service_deployed(), "churn-v2-post-predict", ROUTE,
                                "api-sentiment"),
        names="route POST /churn/v2/predict", policy="versions-keep-their-surface",
    ),
    Attack(
        "a service's API route keyed with its public path",
        mutant=lambda _: mutated(per_service_deployed(), "churn-v2-post-predict", ROUTE,
                                 lambda p: p.update(routeKey="POST /churn/v2/predict")),
        names="so its routes leave the service out", policy="api-routes-invoke-own-version",
    ),
    Attack(
        "a version's alias invocable from another service's API",
        mutant=lambda _: mutated(
            per_service_deployed(), "churn-v2-post-predict-invoke", PERMISSION,
            lambda p: p.update(sourceArn=per_service_deployed().by_name("api-sentiment", API)
                               .outputs["executionArn"] + "/*/POST/v2/predict")),
        names="which is not the API of churn", policy="api-grants-name-own-routes",
    ),
]  # fmt: skip

ALLOWED = [
    Attack(
        "move to per-service APIs behind the kept custom domain",
        config=lambda c, _: c["mlserve:api"].update(layout="perService"),
        names="", policy="",
    ),
    Attack(
        "deprecate on the planned dates",
        config=lambda c, _: version(c, "sentiment", "v1").update(status="deprecated"),
        names="", policy="",
    ),
    Attack(
        "deprecate from today with the full window",
        config=lambda c, _: deprecate(c, "sentiment", "v1", TODAY, days(180)),
        names="", policy="",
    ),
    Attack(
        "give callers of a deprecated version more time",
        config=lambda c, _: version(c, "churn", "v1").update(sunsetOn="2027-12-31"),
        names="", policy="",
    ),
    Attack(
        "add a route",
        config=lambda c, w: version(c, "churn", "v2").update(
            code=code_copy(
                w, "churn", "v2",
                lambda s: s.replace(
                    '"routes": {',
                    '"routes": {"POST /explain": {"request": "PredictRequest", '
                    '"response": "PredictResponse"}, ',
                ),
            )
        ),
        names="", policy="",
    ),
    Attack(
        "add a version",
        config=lambda c, w: services(c)["churn"]["versions"].update(
            v3={
                "status": "active",
                "code": code_copy(
                    w, "churn", "v2", lambda s: s.replace('"version": "v2"', '"version": "v3"')
                ),
            }
        ),
        names="", policy="",
    ),
    Attack(
        "raise memory and timeout",
        config=lambda c, _: services(c)["churn"].update(memoryMb=1024, timeoutSeconds=20),
        names="", policy="",
    ),
    Attack(
        "loosen auth iam -> none",
        config=open_sentiment,
        names="", policy="",
    ),
    Attack(
        "raise the throttle",
        config=lambda c, _: c["mlserve:api"]["throttle"].update(burstLimit=400, rateLimit=300),
        names="", policy="",
    ),
    Attack(
        "batch callers get more concurrency, bigger batches and more receives",
        config=lambda c, _: version(c, "sentiment", "v2")["queue"].update(
            maxConcurrency=50, batchSize=100, batchWindowSeconds=5, maxReceiveCount=10),
        names="", policy="",
    ),
    Attack(
        "add a queue to an active version",
        config=lambda c, _: version(c, "churn", "v2").update(queue={}),
        names="", policy="",
    ),
]  # fmt: skip


@pytest.fixture
def code_folder(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A folder inside the project (build/ is not committed) for a test's edited code."""
    folder = PROJECT_ROOT / "build" / "attack-code" / re.sub(r"\W+", "-", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def deployed() -> ProgramRun:
    """The prod stack as `pulumi up` left it: its outputs are the ledger every attack faces."""
    run = run_program(stack_config(STACK), stack=STACK, today=TODAY)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="module")
def packs() -> Iterator[Callable[[ProgramRun], RunningPack]]:
    """A pack per stack config, started as the engine starts it for that config."""
    started: dict[tuple[str, bool], RunningPack] = {}
    with ExitStack() as stack:

        def pack_for(run: ProgramRun) -> RunningPack:
            key = (json.dumps(run.config, sort_keys=True), run.preview)
            if key not in started:
                started[key] = stack.enter_context(
                    running_pack(run.config, stack=run.stack, dry_run=run.preview)
                )
            return started[key]

        yield pack_for


def attempt(
    attack: Attack, deployed: ProgramRun, pack_for: Callable[[ProgramRun], RunningPack], tmp: Path
) -> list[Violation]:
    """Preview the attack (a config edit) or analyze its deployment (a hostile program)."""
    config: Config = {
        key: json.loads(value) if key in JSON_KEYS else value
        for key, value in deployed.config.items()
    }
    if attack.config is not None:
        attack.config(config, tmp)
    engine_config = {
        key: json.dumps(value) if key in JSON_KEYS else value for key, value in config.items()
    }
    if attack.mutant is not None:
        run = attack.mutant(deployed)
    else:
        run = run_program(engine_config, stack=STACK, preview=True, today=TODAY)
        # The program accepts it: the pack alone has to stop it (a pull request owns the program).
        assert run.error is None, run.error
    ledger = ledger_of(deployed)
    if attack.ledger is not None:
        attack.ledger(ledger)
    return analyze_run(run, policy_config=ledger, pack=pack_for(run))


@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.name for attack in ATTACKS])
def test_given_attack_when_previewed_against_the_ledger_then_a_mandatory_violation_names_it(
    attack: Attack,
    deployed: ProgramRun,
    packs: Callable[[ProgramRun], RunningPack],
    code_folder: Path,
) -> None:
    violations = attempt(attack, deployed, packs, code_folder)
    blocking = [v for v in violations if v.mandatory and v.policy_name == attack.policy]
    assert blocking, [f"{v.policy_name} ({v.enforcement_level}): {v.message}" for v in violations]
    assert any(attack.names in v.message for v in blocking), [v.message for v in blocking]


@pytest.mark.parametrize("level", ["advisory", "disabled"])
@pytest.mark.parametrize("how", ["policy", "all"])
def test_given_policy_config_lowering_a_guard_when_configured_then_refused(
    deployed: ProgramRun, packs: Callable[[ProgramRun], RunningPack], level: str, how: str
) -> None:
    # GIVEN the ledger, with the removal rule (or every rule) set below mandatory
    config = ledger_of(deployed)
    if how == "all":
        config["all"] = level
    else:
        config["no-removal-of-non-deprecated-versions"]["enforcementLevel"] = level
    # WHEN the engine sends it THEN the pack refuses, so the engine stops before anything runs
    with pytest.raises(PolicyPackError, match="lowers mandatory policies"):
        packs(deployed).configure(config)


@pytest.mark.parametrize("attack", ALLOWED, ids=[attack.name for attack in ALLOWED])
def test_given_allowed_change_when_previewed_against_the_ledger_then_nothing_blocks(
    attack: Attack,
    deployed: ProgramRun,
    packs: Callable[[ProgramRun], RunningPack],
    code_folder: Path,
) -> None:
    violations = attempt(attack, deployed, packs, code_folder)
    assert [f"{v.policy_name}: {v.message}" for v in violations if v.mandatory] == []


def test_given_new_stack_declared_when_first_deployed_then_nothing_blocks(
    deployed: ProgramRun, packs: Callable[[ProgramRun], RunningPack]
) -> None:
    # GIVEN the only legitimate way without a ledger: a stack that was never deployed
    violations = analyze_run(
        deployed, policy_config=policy_config(None, today=TODAY), pack=packs(deployed)
    )
    assert [v for v in violations if v.mandatory] == []
