"""The real __main__.py under the recording mock monitor: functions, aliases, roles, logs, and what
the engine and AWS answer on a fresh stack, an existing one and one that does not change.

Expectations come from the stack settings of every stack file, so a consistent new service or
version keeps these green; the example values appear only as extra cases.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pulumi.output import Unknown

from components.settings import Settings, VersionSettings
from mlserve.offline import Deployed, ProgramRun, run_program
from mlserve.stack_files import stack_config, stack_files, stack_settings
from mlserve_runtime.conventions import ENV_RESULTS_QUEUE_URL
from tests.support.stacks import Services, edited

FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
ROLE = "aws:iam/role:Role"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
PERMISSION = "aws:lambda/permission:Permission"
RECORD = "aws:route53/record:Record"
VERSIONED_FUNCTION = "mlserve:lambda:VersionedFunction"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
STACKS = list(stack_files())
TODAY = "2026-11-27"


@pytest.fixture(scope="module")
def runs(prod_run: ProgramRun, dev_run: ProgramRun) -> dict[str, ProgramRun]:
    known = {"prod": prod_run, "dev": dev_run}
    return {
        stack: known.get(stack) or run_program(stack_config(stack), stack=stack, today=TODAY)
        for stack in STACKS
    }


def functions(run: ProgramRun) -> dict[str, Any]:
    return {r.inputs["name"]: r for r in run.of_type(FUNCTION)}


def aliases(run: ProgramRun) -> dict[str, Any]:
    """Aliases by `<function>:<alias>`."""
    return {f"{r.inputs['functionName']}:{r.inputs['name']}": r for r in run.of_type(ALIAS)}


def settings_of(stack: str) -> Settings:
    return stack_settings(stack)


def active_version(settings: Settings) -> VersionSettings:
    return next(v for v in settings.deployed_versions() if v.status == "active")


def existing(settings: Settings, newest: int, unchanged: bool = False) -> Deployed:
    """The stack as already deployed with every function at `newest` published versions."""
    names = [v.function_name for v in settings.deployed_versions()]
    return Deployed(
        versions=frozenset(v.logical_name for v in settings.deployed_versions()),
        published=dict.fromkeys(names, newest),
        unchanged=frozenset(names) if unchanged else frozenset(),
    )


@pytest.mark.parametrize("stack", STACKS)
def test_given_stack_when_run_then_one_published_function_and_alias_per_deployed_version(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    settings, run = settings_of(stack), runs[stack]
    deployed = settings.deployed_versions()
    assert sorted(functions(run)) == sorted(v.function_name for v in deployed)
    assert sorted(aliases(run)) == sorted(f"{v.function_name}:{v.alias_name}" for v in deployed)
    assert all(r.inputs["publish"] is True for r in run.of_type(FUNCTION))
    # logical names never carry the prefix or environment, so they stay stable across stacks
    assert sorted(r.name for r in run.of_type(FUNCTION)) == sorted(v.logical_name for v in deployed)


@pytest.mark.parametrize("stack", STACKS)
def test_given_fresh_stack_when_deployed_then_every_alias_serves_version_one(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    # GIVEN a first deployment (a fresh stack publishes version 1 of every function)
    for version in settings_of(stack).deployed_versions():
        alias = aliases(runs[stack])[f"{version.function_name}:{version.alias_name}"]
        # THEN no alias is pinned above what exists, and none serves $LATEST
        assert alias.inputs["functionVersion"] == "1", version.function_name
        assert not alias.inputs.get("routingConfig")


@pytest.mark.parametrize("stack", STACKS)
def test_given_stack_when_run_then_only_active_functions_and_aliases_are_protected(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    protected = sorted(r.name for r in run.registrations if r.protect)
    active = sorted(
        name
        for version in settings_of(stack).deployed_versions()
        if version.status == "active"
        for name in (
            version.logical_name,
            f"{version.logical_name}-alias",
            # its batch callers' queues: work in, results out (never the dead-letter queue)
            *((f"{version.logical_name}-queues-work", f"{version.logical_name}-queues-results")
              if version.queue is not None else ()),
        )
    )  # fmt: skip
    assert protected == active


@pytest.mark.parametrize("stack", STACKS)
def test_given_versions_when_run_then_each_function_has_its_own_role_and_log_group(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    settings, run = settings_of(stack), runs[stack]
    for function in run.of_type(FUNCTION):
        name = function.inputs["name"]
        role = run.by_name(f"{function.name}-role")
        log_group = run.by_name(f"{function.name}-logs")
        assert function.inputs["role"] == role.outputs["arn"]
        assert log_group.inputs["name"] == f"/aws/lambda/{name}"
        assert log_group.inputs["retentionInDays"] == settings.log_retention_days
        assert log_group.urn in function.dependencies
        assert function.inputs["loggingConfig"]["logGroup"] == f"/aws/lambda/{name}"
        assert function.inputs["tracingConfig"] == {"mode": "Active"}
        policy = json.loads(run.by_name(f"{function.name}-policy").inputs["policy"])
        logs, xray, *_queues = policy["Statement"]  # see tests/functional/test_queues_program
        arn = log_group.outputs["arn"]
        assert logs["Resource"] == [arn, f"{arn}:log-stream:*"]
        assert set(logs["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
        assert xray["Resource"] == "*"
    roles = [r.urn for r in run.of_type(ROLE)]
    assert len(roles) == len(set(roles)) == len(settings.deployed_versions())


@pytest.mark.parametrize("stack", STACKS)
def test_given_versions_when_run_then_functions_carry_their_settings(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    settings = settings_of(stack)
    registered = functions(runs[stack])
    for version in settings.deployed_versions():
        function = registered[version.function_name].inputs
        assert function["tags"] == {
            "mlserve:service": version.service,
            "mlserve:api-version": version.key,
            "mlserve:lifecycle": version.status,
            "mlserve:environment": settings.environment,
        }
        assert function["description"] == version.changelog
        assert function["architectures"] == [version.architecture]
        assert function["runtime"] == version.runtime
        assert function["handler"] == version.handler
        assert function["memorySize"] == version.memory_mb
        assert function["timeout"] == version.timeout_seconds
        variables = dict(function["environment"]["variables"])
        if version.queue is not None:  # the results queue's URL, known once the queue exists
            url = variables[ENV_RESULTS_QUEUE_URL]
            assert url.endswith(f"/{version.queue_name('results')}")
            variables = {
                k: v for k, v in variables.items() if k not in version.queue_variables(url)
            }
        assert variables == version.variables


def test_given_prod_deprecated_version_when_run_then_env_carries_lifecycle(
    prod_run: ProgramRun,
) -> None:
    # an example case on top of the invariants above
    variables = functions(prod_run)["churn_v1"].inputs["environment"]["variables"]
    assert variables["MLSERVE_LIFECYCLE"] == "deprecated"
    assert variables["MLSERVE_DEPRECATED_ON"] == "2026-09-01"
    assert variables["MLSERVE_SUNSET_ON"] == "2027-06-30"
    assert variables["MLSERVE_SUCCESSOR_PATH"] == "/churn/v2"
    assert variables["MLSERVE_DOCS_URL"] == "https://models.example.com/docs/churn/v1"


def test_given_functions_when_run_then_parents_form_service_version_tree(
    prod_run: ProgramRun,
) -> None:
    for version in settings_of("prod").deployed_versions():
        function = prod_run.by_name(version.logical_name, FUNCTION)
        component = prod_run.by_urn(function.parent)
        assert component.type == VERSIONED_FUNCTION
        assert prod_run.by_urn(component.parent).type == "mlserve:service:ModelService"
        assert prod_run.by_name(f"{version.logical_name}-alias").parent == component.urn


@pytest.mark.parametrize("stack", STACKS)
def test_given_stack_when_run_then_versions_output_is_the_ledger(
    stack: str, runs: dict[str, ProgramRun]
) -> None:
    settings, run = settings_of(stack), runs[stack]
    ledger = run.outputs["versions"]
    assert set(ledger) == set(settings.services)
    for version in settings.versions():
        entry = ledger[version.service][version.key]
        assert entry["function"] == version.function_name
        assert entry["alias"] == version.alias_name
        assert entry["status"] == version.status
        assert entry.get("deprecatedOn") == (version.deprecated_on and str(version.deprecated_on))
        assert entry.get("sunsetOn") == (version.sunset_on and str(version.sunset_on))
        assert entry.get("successor") == version.successor
        if version.deployed:
            alias = aliases(run)[f"{version.function_name}:{version.alias_name}"]
            assert entry["lambdaVersion"] == alias.outputs["functionVersion"]
            assert entry["publishedVersion"] == "1"
            assert re.fullmatch(r"[A-Za-z0-9+/]{43}=", entry["codeSha256"])
            key = f"{version.service}/{version.key}"
            assert run.outputs["functions"][key] == alias.outputs["arn"]
        else:
            assert "lambdaVersion" not in entry and "codeSha256" not in entry


def pin(version: VersionSettings, number: int, weight: float | None = None) -> Any:
    def edit(services: Services) -> None:
        entry = services[version.service]["versions"][version.key]
        entry["pin"] = number
        if weight is not None:
            entry["canary"] = {"weight": weight}

    return edit


def test_given_pin_above_newest_when_deployed_then_no_alias_is_registered_and_key_named() -> None:
    # GIVEN a fresh stack (newest published version: 1) whose active version pins version 4
    settings = settings_of("prod")
    version = active_version(settings)
    run = run_program(edited(stack_config("prod"), pin(version, 4)), stack="prod", today=TODAY)
    # THEN the program fails before CreateAlias, naming the key path and the newest version
    assert run.error is not None
    where = f"mlserve:services.{version.service}.versions.{version.key}.pin"
    assert where in run.error and "newest is 1" in run.error, run.error
    assert f"{version.function_name}:{version.alias_name}" not in aliases(run)


def test_given_existing_stack_when_pinned_below_newest_then_alias_serves_the_pin() -> None:
    settings = settings_of("prod")
    version = active_version(settings)
    run = run_program(
        edited(stack_config("prod"), pin(version, 3)),
        stack="prod",
        today=TODAY,
        deployed=existing(settings, newest=5),
    )
    assert run.error is None, run.error
    alias = aliases(run)[f"{version.function_name}:{version.alias_name}"]
    assert alias.inputs["functionVersion"] == "3"
    entry = run.outputs["versions"][version.service][version.key]
    assert (entry["lambdaVersion"], entry["publishedVersion"], entry["pinned"]) == ("3", "6", True)


def test_given_canary_when_newest_differs_from_pin_then_alias_routes_weight_to_newest() -> None:
    settings = settings_of("dev")
    version = active_version(settings)
    run = run_program(
        edited(stack_config("dev"), pin(version, 4, weight=0.1)),
        stack="dev",
        today=TODAY,
        deployed=existing(settings, newest=6),
    )
    assert run.error is None, run.error
    alias = aliases(run)[f"{version.function_name}:{version.alias_name}"]
    assert alias.inputs["functionVersion"] == "4"
    # the deployment publishes version 7, which gets the canary's share
    assert alias.inputs["routingConfig"] == {"additionalVersionWeights": {"7": 0.1}}


def test_given_canary_when_newest_is_the_pin_then_no_routing_config() -> None:
    settings = settings_of("dev")
    version = active_version(settings)
    run = run_program(
        edited(stack_config("dev"), pin(version, 4, weight=0.1)),
        stack="dev",
        today=TODAY,
        deployed=existing(settings, newest=4, unchanged=True),
    )
    assert run.error is None, run.error
    alias = aliases(run)[f"{version.function_name}:{version.alias_name}"]
    assert alias.inputs["functionVersion"] == "4"
    assert not alias.inputs.get("routingConfig")


@pytest.mark.parametrize("stack", STACKS)
def test_given_existing_stack_preview_when_functions_publish_then_versions_are_unknown(
    stack: str,
) -> None:
    # GIVEN a preview of an update in which every function publishes a new version
    settings = settings_of(stack)
    run = run_program(
        stack_config(stack), stack=stack, preview=True, today=TODAY,
        deployed=existing(settings, newest=3),
    )  # fmt: skip
    assert run.error is None, run.error
    for version in settings.deployed_versions():
        function = functions(run)[version.function_name]
        # THEN what the update computes is unknown, as the engine leaves it, and the rest known
        for output in ("version", "qualifiedArn", "qualifiedInvokeArn"):
            assert isinstance(function.outputs.get(output, Unknown()), Unknown), output
        assert function.outputs["arn"].endswith(f":function:{version.function_name}")
        alias = aliases(run)[f"{version.function_name}:{version.alias_name}"]
        assert isinstance(alias.inputs["functionVersion"], Unknown)


@pytest.mark.parametrize("stack", STACKS)
def test_given_existing_stack_preview_when_nothing_changes_then_versions_are_known(
    stack: str,
) -> None:
    settings = settings_of(stack)
    run = run_program(
        stack_config(stack), stack=stack, preview=True, today=TODAY,
        deployed=existing(settings, newest=3, unchanged=True),
    )  # fmt: skip
    assert run.error is None, run.error
    for version in settings.deployed_versions():
        assert functions(run)[version.function_name].outputs["version"] == "3"
        alias = aliases(run)[f"{version.function_name}:{version.alias_name}"]
        assert alias.inputs["functionVersion"] == "3"


def test_given_new_version_in_existing_stack_preview_when_run_then_its_resources_are_new() -> None:
    # GIVEN an existing prod stack that does not have one of its versions yet
    settings = settings_of("prod")
    version = active_version(settings)
    deployed = existing(settings, newest=3, unchanged=True)
    deployed = Deployed(
        versions=deployed.versions - {version.logical_name},
        published={k: v for k, v in deployed.published.items() if k != version.function_name},
        unchanged=deployed.unchanged,
    )
    run = run_program(stack_config("prod"), stack="prod", preview=True, deployed=deployed)
    assert run.error is None, run.error
    # THEN the new version's function and alias have no computed values yet, the others do
    assert isinstance(functions(run)[version.function_name].outputs.get("arn", Unknown()), Unknown)
    alias = aliases(run)[f"{version.function_name}:{version.alias_name}"]
    assert isinstance(alias.outputs.get("arn", Unknown()), Unknown)
    others = [v for v in settings.deployed_versions() if v != version]
    assert all(functions(run)[v.function_name].outputs["version"] == "3" for v in others)


def retire_first_retirable(settings: Settings) -> tuple[VersionSettings, Any, str]:
    """A deprecated version with its retirement edit and a day after its sunset."""
    version = next(v for v in settings.deployed_versions() if v.status == "deprecated")
    assert version.sunset_on is not None

    def edit(services: Services) -> None:
        services[version.service]["versions"][version.key]["status"] = "retired"
        for consumer in services[version.service].get("consumers", []):
            consumer["versions"] = [v for v in consumer["versions"] if v != version.key]

    return version, edit, str(version.sunset_on.replace(year=version.sunset_on.year + 1))


def test_given_retired_version_when_run_then_it_has_no_resources_but_stays_in_ledger() -> None:
    version, edit, after_sunset = retire_first_retirable(settings_of("prod"))
    run = run_program(edited(stack_config("prod"), edit), stack="prod", today=after_sunset)
    assert run.error is None, run.error
    assert not [r for r in run.registrations if r.name.startswith(f"{version.logical_name}-")]
    assert version.function_name not in functions(run)
    entry = run.outputs["versions"][version.service][version.key]
    assert entry["status"] == "retired" and "lambdaVersion" not in entry
    assert f"{version.service}/{version.key}" not in run.outputs["functions"]


def test_given_config_error_when_run_then_nothing_is_registered_and_path_is_named() -> None:
    version = active_version(settings_of("prod"))
    run = run_program(edited(stack_config("prod"), pin(version, 0)), stack="prod")
    assert run.error is not None
    assert f"mlserve:services.{version.service}.versions.{version.key}.pin" in run.error
    assert [r.type for r in run.registrations] == ["pulumi:pulumi:Stack"]


def test_given_two_runs_when_second_differs_then_nothing_leaks_between_them() -> None:
    first = run_program(stack_config("prod"), stack="prod", today=TODAY)
    second = run_program(stack_config("dev"), stack="dev", today=TODAY)
    third = run_program(stack_config("prod"), stack="prod", today=TODAY)
    assert not any(r.urn.startswith("urn:pulumi:prod::") for r in second.registrations)
    assert sorted(r.urn for r in first.registrations) == sorted(r.urn for r in third.registrations)
    assert first.outputs == third.outputs


def secret_environment(version: VersionSettings, value: str) -> Any:
    def edit(services: Services) -> None:
        services[version.service]["versions"][version.key].setdefault("environment", {})[
            "API_TOKEN"
        ] = value

    return edit


def test_given_secret_services_key_when_run_then_the_environment_is_a_secret_output() -> None:
    # GIVEN mlserve:services stored as a Pulumi secret, with a token in a version's environment
    settings = settings_of("prod")
    version = active_version(settings)
    token = "tok-5f0e1d2c3b4a"
    config = edited(stack_config("prod"), secret_environment(version, token))
    run = run_program(
        config, stack="prod", today=TODAY, secret_keys=["mlserve:services", "aws:region"]
    )
    assert run.error is None, run.error
    # THEN every function environment is registered as a secret, and the token appears in no
    # plain input, no output, and no uploaded package
    for function in run.of_type(FUNCTION):
        environment = function.inputs["environment"]
        assert SECRET_SIG in environment.values(), function.name  # secret as a whole property
    for registration in run.registrations:
        plain = json.dumps(registration.inputs, default=str)
        plain_without_secrets = re.sub(r'\{"[0-9a-f]{32}": "' + SECRET_SIG + r'".*?\}\}', "", plain)
        assert token not in plain_without_secrets, registration.name
        archive = registration.inputs.get("code")
        if archive is not None and hasattr(archive, "path") and str(archive.path).endswith(".zip"):
            assert token.encode() not in Path(archive.path).read_bytes()
    assert token not in json.dumps(run.outputs, default=str)


def test_given_secret_services_key_when_config_is_bad_then_the_error_never_echoes_it() -> None:
    version = active_version(settings_of("prod"))

    def bad(services: Services) -> None:
        services[version.service]["versions"][version.key]["handler"] = "tok-5f0e1d2c3b4a"
        services[version.service]["versions"][version.key]["environment"] = {"API_TOKEN": 42}

    run = run_program(
        edited(stack_config("prod"), bad), stack="prod", secret_keys=["mlserve:services"]
    )
    assert run.error is not None
    assert "tok-5f0e1d2c3b4a" not in run.error and "42" not in run.error
    assert f"mlserve:services.{version.service}.versions.{version.key}.environment" in run.error


STATEMENT_ID = re.compile(r"^[0-9A-Za-z_-]{1,100}$")


def test_given_odd_consumer_role_name_when_run_then_every_statement_id_is_valid_and_stable() -> (
    None
):
    # GIVEN a consumer role named with every character IAM allows, 60 characters long
    role = "ml.reader@team-" + "a+b=c,d.e@f-g_" * 3 + "xyz"
    assert len(role) == 60
    settings = settings_of("prod")
    service = next(s for s in settings.services.values() if s.auth == "iam")
    version = service.deployed_versions[-1]

    def consumer(services: Services) -> None:
        services[service.key]["consumers"].append(
            {"role": f"arn:aws:iam::123456789012:role/{role}", "versions": [version.key]}
        )

    config = edited(stack_config("prod"), consumer)
    first = run_program(config, stack="prod", today=TODAY)
    second = run_program(config, stack="prod", today=TODAY)
    assert first.error is None, first.error
    by_name = {p.name: p.inputs["statementId"] for p in first.of_type(PERMISSION)}
    ids = list(by_name.values())
    # THEN every permission has an explicit id the provider accepts, unique and the same each run
    assert ids and all(STATEMENT_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert by_name == {p.name: p.inputs["statementId"] for p in second.of_type(PERMISSION)}
    assert any(role.split("@")[0].replace(".", "-") in i for i in ids)


def test_given_domain_when_run_then_dns_target_is_exported_and_record_follows_hosted_zone() -> None:
    settings = settings_of("prod")
    assert settings.api.domain_name is not None
    plain = run_program(stack_config("prod"), stack="prod", today=TODAY)
    target = plain.outputs["domainTarget"]
    assert target["targetDomainName"].endswith(".amazonaws.com") and target["hostedZoneId"]
    assert not plain.of_type(RECORD)

    def with_zone(config: dict[str, str]) -> dict[str, str]:
        api = json.loads(config["mlserve:api"])
        api["domain"]["hostedZoneId"] = "Z0123456789ABCDEFGHIJ"
        return {**config, "mlserve:api": json.dumps(api)}

    run = run_program(with_zone(stack_config("prod")), stack="prod", today=TODAY)
    assert run.error is None, run.error
    (record,) = run.of_type(RECORD)
    assert record.inputs["zoneId"] == "Z0123456789ABCDEFGHIJ"
    assert record.inputs["name"] == settings.api.domain_name
    assert record.inputs["type"] == "A"
    (alias,) = record.inputs["aliases"]
    assert alias["name"] == run.outputs["domainTarget"]["targetDomainName"]
    assert alias["zoneId"] == run.outputs["domainTarget"]["hostedZoneId"]


def test_given_certificate_in_another_region_when_run_then_config_error_names_both() -> None:
    config = stack_config("prod")
    api = json.loads(config["mlserve:api"])
    api["domain"]["certificateArn"] = api["domain"]["certificateArn"].replace(
        ":acm:us-east-1:", ":acm:eu-west-1:"
    )
    run = run_program({**config, "mlserve:api": json.dumps(api)}, stack="prod")
    assert run.error is not None
    assert "mlserve:api.domain.certificateArn" in run.error
    assert "eu-west-1" in run.error and config["aws:region"] in run.error
