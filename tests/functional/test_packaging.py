"""What the program uploads: each function's package holds what it imports, Lambda's unprivileged
user can read it, it carries nothing of the stack, and it answers from the registered bytes."""

from __future__ import annotations

import ast
import sys
import zipfile
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.packaging import package_files
from mlserve.local_api import lambda_environment
from mlserve.offline import ProgramRun, run_program
from mlserve.stack_files import stack_config, stack_files, stack_settings
from mlserve_runtime.conventions import metrics_namespace, outcome
from tests.support.events import http_api_event, response_json
from tests.support.lambda_sandbox import (
    emf_lines,
    host_layer,
    lambda_sandbox,
    unprivileged,
    unreadable_entries,
)
from tests.support.stacks import edited

FUNCTION = "aws:lambda/function:Function"
LAYER = "aws:lambda/layerVersion:LayerVersion"
STACKS = list(stack_files())
# What every Lambda Python runtime includes ("The Python runtimes include the AWS SDK for Python
# (Boto3)", AWS's Lambda Python guide); only the queue's result sender imports it, lazily.
SDK = ("boto3", "botocore")
DEPLOYED = [
    (stack, version.function_name)
    for stack in STACKS
    for version in stack_settings(stack).deployed_versions()
]


@pytest.fixture(scope="module")
def runs(prod_run: ProgramRun, dev_run: ProgramRun) -> dict[str, ProgramRun]:
    """A deployment of every stack file (the example ones come from the session fixtures)."""
    known = {"prod": prod_run, "dev": dev_run}
    return {
        stack: known.get(stack) or run_program(stack_config(stack), stack=stack) for stack in STACKS
    }


def registered_function(run: ProgramRun, function_name: str) -> Any:
    (function,) = [f for f in run.of_type(FUNCTION) if f.inputs["name"] == function_name]
    return function


def package_of(function: Any) -> Path:
    archive = function.inputs["code"]
    assert isinstance(archive, pulumi.FileArchive)
    return Path(archive.path)


def archive_files(function: Any) -> dict[str, str]:
    """The registered code archive (the zip Lambda receives) as text by archive path."""
    with zipfile.ZipFile(package_of(function)) as package:
        return {
            name: package.read(name).decode("utf-8", errors="replace")
            for name in package.namelist()
            if not name.endswith("/")
        }


def imported_modules(files: dict[str, str]) -> set[str]:
    """Top-level names of every absolute import in the package's Python files."""
    names: set[str] = set()
    for path, source in files.items():
        if not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(source, filename=path)):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def plain_variables(function: Any) -> dict[str, str]:
    """The registered environment, a secret output unwrapped (the engine stores it encrypted)."""
    environment = function.inputs["environment"]
    if "value" in environment and len(environment) == 2:  # the engine's secret wrapper
        environment = environment["value"]
    return dict(environment["variables"])


@pytest.mark.parametrize(("stack", "function_name"), DEPLOYED)
def test_given_registered_function_when_imports_resolved_then_nothing_is_missing(
    stack: str, function_name: str, runs: dict[str, ProgramRun]
) -> None:
    run = runs[stack]
    layers = {layer.outputs["arn"]: layer for layer in run.of_type(LAYER)}
    function = registered_function(run, function_name)
    files = archive_files(function)
    (layer_arn,) = function.inputs["layers"]
    layer_python = Path(layers[layer_arn].inputs["code"].path) / "python"
    own = {path.split("/")[0].removesuffix(".py") for path in files}
    layer = {entry.name.removesuffix(".py") for entry in layer_python.iterdir()}
    missing = imported_modules(files) - set(sys.stdlib_module_names) - own - layer - set(SDK)
    assert not missing, f"{function_name} imports {missing} that it does not ship"
    module = function.inputs["handler"].rsplit(".", 1)[0].replace(".", "/") + ".py"
    assert module in files


def test_given_layer_when_built_then_it_targets_lambdas_platform(prod_run: ProgramRun) -> None:
    settings = stack_settings("prod")
    platforms = {(v.runtime, v.architecture) for v in settings.deployed_versions()}
    layers = prod_run.of_type(LAYER)
    assert {(layer.inputs["compatibleRuntimes"][0], layer.inputs["compatibleArchitectures"][0])
            for layer in layers} == platforms  # fmt: skip
    for layer in layers:
        cpu = {"arm64": "aarch64", "x86_64": "x86_64"}[layer.inputs["compatibleArchitectures"][0]]
        compiled = list((Path(layer.inputs["code"].path) / "python").rglob("*.so"))
        assert compiled, "pydantic-core ships a compiled extension"
        assert all(cpu in path.name for path in compiled), compiled


@pytest.mark.parametrize(("stack", "function_name"), DEPLOYED)
def test_given_package_when_inspected_then_every_entry_is_readable_by_lambdas_user(
    stack: str, function_name: str, runs: dict[str, ProgramRun]
) -> None:
    package = package_of(registered_function(runs[stack], function_name))
    assert unreadable_entries(package) == []
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
    # THEN every folder has its own entry before its files, so none is left to a default mode
    for name in names:
        parent = name.rstrip("/").rpartition("/")[0]
        assert not parent or names.index(f"{parent}/") < names.index(name), name


def test_given_two_stacks_when_packaged_then_the_same_code_is_the_same_bytes(
    runs: dict[str, ProgramRun],
) -> None:
    # GIVEN every deployed version's registered package, by code folder
    by_code: dict[str, set[bytes]] = {}
    for stack, run in runs.items():
        for version in stack_settings(stack).deployed_versions():
            function = registered_function(run, version.function_name)
            by_code.setdefault(str(version.code), set()).add(package_of(function).read_bytes())
    # THEN one folder is one artifact, whatever the stack's environment and lifecycle
    assert by_code and all(len(packages) == 1 for packages in by_code.values()), by_code.keys()


@pytest.mark.parametrize(("stack", "function_name"), DEPLOYED)
def test_given_package_when_listed_then_it_holds_the_code_folder_and_runtime_only(
    stack: str, function_name: str, runs: dict[str, ProgramRun]
) -> None:
    # GIVEN the version's code folder and the shared runtime, as files in the repository
    settings = stack_settings(stack)
    version = next(v for v in settings.deployed_versions() if v.function_name == function_name)
    assert version.code is not None
    expected = package_files(settings.project_root, version.code)
    # THEN the registered zip holds exactly those files, byte for byte, and their bytecode
    # (test_bytecode): nothing generated from the stack (environment, lifecycle, secrets) is
    # ever written into a package
    files = archive_files(registered_function(runs[stack], function_name))
    assert {name for name in files if not name.endswith(".pyc")} == set(expected)
    for name, path in expected.items():
        assert files[name] == path.read_text(errors="replace"), name


@pytest.mark.parametrize(("stack", "function_name"), DEPLOYED)
def test_given_registered_package_when_lambda_runs_it_unprivileged_then_it_answers_and_counts(
    stack: str, function_name: str, runs: dict[str, ProgramRun]
) -> None:
    # GIVEN the exact zip, handler and environment the program registers for the version
    settings = stack_settings(stack)
    version = next(v for v in settings.deployed_versions() if v.function_name == function_name)
    function = registered_function(runs[stack], function_name)
    environment = {**lambda_environment(settings, version), **plain_variables(function)}
    layer = host_layer(version.runtime, version.architecture)
    route = version.all_routes[0]
    # WHEN Lambda extracts it with its modes and calls the handler as another user than root
    with lambda_sandbox(
        package_of(function), layer, function.inputs["handler"], environment
    ) as sandbox:
        health, metadata, unknown = sandbox.invoke(
            [
                http_api_event("GET", f"{version.base_path}/health"),
                http_api_event("GET", f"{version.base_path}/metadata"),
                http_api_event(route.method, f"{version.base_path}/no-such-route"),
            ]
        )
    # THEN the version answers as itself, with the lifecycle of its stack
    assert health["statusCode"] == 200, health
    assert response_json(health) == {
        "status": "ok",
        "service": version.service,
        "version": version.key,
        "lifecycle": version.status,
    }
    assert metadata["statusCode"] == 200, metadata
    assert response_json(metadata)["contract_hash"].startswith("sha256:")
    # AND each request left one EMF line in the log, counted by version, lifecycle and outcome
    expected = [
        {"service": version.service, "version": version.key, "lifecycle": version.status,
         "outcome": outcome(answer["statusCode"])}
        for answer in (health, metadata, unknown)
    ]  # fmt: skip
    assert [line["dimensions"] for line in emf_lines(sandbox.log)] == expected
    assert all(line["values"] == [1] and line["unit"] == "Count" for line in emf_lines(sandbox.log))
    assert {line["namespace"] for line in emf_lines(sandbox.log)} == {
        metrics_namespace(settings.name_prefix, settings.environment)
    }


def test_given_zip_without_modes_when_lambda_runs_it_then_the_import_fails(
    prod_run: ProgramRun, tmp_path: Path
) -> None:
    # GIVEN a registered package rewritten the way zipfile writes entries without a mode (0600)
    settings = stack_settings("prod")
    version = settings.deployed_versions()[0]
    function = registered_function(prod_run, version.function_name)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(package_of(function)) as good, zipfile.ZipFile(broken, "w") as bad:
        for name in good.namelist():
            if not name.endswith("/"):
                bad.writestr(
                    zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), good.read(name)
                )
    # THEN the permission check names it, and as Lambda's user the handler cannot even load
    assert unreadable_entries(broken)
    if unprivileged():
        environment = {**lambda_environment(settings, version), **plain_variables(function)}
        layer = host_layer(version.runtime, version.architecture)
        with (
            lambda_sandbox(broken, layer, function.inputs["handler"], environment) as sandbox,
            pytest.raises(AssertionError, match="Permission denied"),
        ):
            sandbox.invoke([http_api_event("GET", f"{version.base_path}/health")])


def test_given_lifecycle_change_when_registered_then_the_provider_sees_a_configuration_change(
    prod_run: ProgramRun,
) -> None:
    # GIVEN an active version, and the same stack with that version deprecated
    settings = stack_settings("prod")
    pairs = [
        (version, newer)
        for version in settings.deployed_versions()
        for newer in settings.deployed_versions()
        if version.status == "active" and newer.service == version.service
        and newer.major > version.major
    ]  # fmt: skip
    if not pairs:
        pytest.skip("the prod stack has no active version with a newer major to deprecate it to")
    active, successor = pairs[0]

    def deprecate(services: dict[str, Any]) -> None:
        services[active.service]["versions"][active.key].update(
            status="deprecated",
            deprecatedOn="2026-11-27",
            sunsetOn="2027-11-27",
            successor=successor.key,
        )

    after = run_program(edited(stack_config("prod"), deprecate), stack="prod", today="2026-11-27")
    assert after.error is None, after.error
    before_function = registered_function(prod_run, active.function_name)
    after_function = registered_function(after, active.function_name)
    # THEN the code is the same bytes, and the environment (configuration, which makes the
    # provider publish a new version) carries the new lifecycle
    assert package_of(before_function) == package_of(after_function)
    assert plain_variables(after_function)["MLSERVE_LIFECYCLE"] == "deprecated"
    assert plain_variables(before_function)["MLSERVE_LIFECYCLE"] == "active"
    ledger = after.outputs["versions"][active.service][active.key]
    assert (
        ledger["revision"] != prod_run.outputs["versions"][active.service][active.key]["revision"]
    )
