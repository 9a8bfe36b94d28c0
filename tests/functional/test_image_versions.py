"""Container-image versions: under the recording monitor the function runs the image by digest with
no layer, handler or runtime, in the service's ECR repository (IMMUTABLE, scanned, expiring only
untagged images, pulled only by the service's functions); config errors say how to fix them; the
pack, the gate, promotion and the local API treat an image version as what it is."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from components.settings import ConfigError, settings_from_engine_config
from mlserve.analyzer import analyze_run
from mlserve.contracts.gate import find_contracts
from mlserve.ledger import ledger_from_stack_output, policy_config, with_promotion
from mlserve.local_api import LocalApi
from mlserve.offline import ACCOUNT_ID, PROJECT_ROOT, REGION, ProgramRun, run_program
from mlserve.stack_files import stack_config, stack_settings
from mlserve_runtime.conventions import PROMOTION_POLICY, image_repository
from tests.conftest import TODAY
from tests.support.scratch import edit_stack, scratch_project
from tests.support.stacks import edited

STACK = "prod"
FUNCTION = "aws:lambda/function:Function"
REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
LAYER = "aws:lambda/layerVersion:LayerVersion"
DIGEST = "0123456789abcdef" * 4


def the_version() -> Any:
    """The first active version of the stack: the one turned into an image."""
    settings = stack_settings(STACK, today=date.fromisoformat(TODAY))
    return next(v for v in settings.deployed_versions() if v.status == "active")


def image_uri(repository: str | None = None, region: str = REGION, digest: str = DIGEST) -> str:
    version = the_version()
    home = repository or image_repository(version.owner.stack.name_prefix, version.service)
    return f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{home}@sha256:{digest}"


def as_image(local_code: bool = True, **entry: Any) -> dict[str, str]:
    """The stack config with the_version() deployed from an image (its code as localCode)."""
    version = the_version()

    def edit(services: dict[str, Any]) -> None:
        raw = services[version.service]["versions"][version.key]
        code = raw.pop("code")
        raw["image"] = image_uri()
        if local_code:
            raw["localCode"] = code
        raw.update(entry)

    return edited(stack_config(STACK), edit)


@pytest.fixture(scope="module")
def image_run() -> ProgramRun:
    run = run_program(as_image(), stack=STACK, today=TODAY)
    assert run.error is None, run.error
    return run


def test_given_image_version_when_registered_then_the_function_runs_the_digest_without_a_layer(
    image_run: ProgramRun,
) -> None:
    version = the_version()
    functions = {f.inputs["name"]: f for f in image_run.of_type(FUNCTION)}
    image = functions[version.function_name].inputs
    assert image["packageType"] == "Image" and image["imageUri"] == image_uri()
    assert not {"handler", "runtime", "code", "layers"} & set(image)
    zips = [f.inputs for name, f in functions.items() if name != version.function_name]
    assert zips and all(z.get("packageType", "Zip") == "Zip" and z["layers"] for z in zips)
    entry = image_run.outputs["versions"][version.service][version.key]
    assert entry["codeSha256"] == DIGEST and "layerSha256" not in entry


def test_given_image_version_when_registered_then_its_repository_keeps_what_runs(
    image_run: ProgramRun,
) -> None:
    version = the_version()
    (repository,) = image_run.of_type(REPOSITORY)
    assert repository.inputs["name"] == image_repository(
        version.owner.stack.name_prefix, version.service
    )
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository.protect == (version.status == "active")
    (lifecycle,) = image_run.of_type(LIFECYCLE)
    rules = json.loads(lifecycle.inputs["policy"])["rules"]
    assert {rule["selection"]["tagStatus"] for rule in rules} == {"untagged"}
    (policy,) = image_run.of_type(REPOSITORY_POLICY)
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert set(statement["Action"]) == {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
    pattern = statement["Condition"]["StringLike"]["aws:sourceArn"]
    assert pattern.endswith(f":function:{version.owner.stack.name_prefix}{version.service}_v*")


def test_given_image_stack_when_analyzed_then_the_pack_passes_it(image_run: ProgramRun) -> None:
    mandatory = [
        v for v in analyze_run(image_run, policy_config=policy_config(None)) if v.mandatory
    ]
    assert mandatory == []


def test_given_image_version_when_promoted_then_its_digest_is_what_is_compared(
    image_run: ProgramRun,
) -> None:
    version = the_version()
    config = {**as_image(), "mlserve:promoteFrom": "dev"}
    promoted = run_program(config, stack=STACK, today=TODAY)
    ledger = ledger_from_stack_output(image_run.outputs)
    ledger["stack"] = "dev"

    def verdicts(source: dict[str, Any]) -> list[str]:
        found = analyze_run(promoted, policy_config=with_promotion(policy_config(None), source))
        return [v.message for v in found if v.policy_name == PROMOTION_POLICY]

    assert verdicts(ledger) == []
    ledger["versions"][version.service][version.key]["codeSha256"] = "f" * 64
    (message,) = verdicts(ledger)
    assert f"{version.service} {version.key} would deploy code {DIGEST}" in message


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"image": image_uri().split("@")[0] + ":v2"}, "a tag is resolved by Lambda once"),
        ({"image": "nginx:latest"}, "not an ECR image reference"),
        ({"code": "services/churn/v2"}, "give code (a folder, deployed as a zip) or image"),
        ({"image": image_uri(repository="someone/else")}, "push it to"),
        ({"image": image_uri(region="eu-west-1")}, "Lambda pulls images only from its own region"),
    ],
)
def test_given_bad_image_entry_when_validated_then_the_error_says_how_to_fix_it(
    entry: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        settings_from_engine_config(as_image(**entry), stack=STACK, project_root=PROJECT_ROOT,
                                    today=date.fromisoformat(TODAY))  # fmt: skip


def test_given_zip_version_with_local_code_when_validated_then_error() -> None:
    version = the_version()

    def edit(services: dict[str, Any]) -> None:
        services[version.service]["versions"][version.key]["localCode"] = "services/churn/v2"

    with pytest.raises(ConfigError, match="only for an image version"):
        config = edited(stack_config(STACK), edit)
        settings_from_engine_config(config, stack=STACK, project_root=PROJECT_ROOT,
                                    today=date.fromisoformat(TODAY))  # fmt: skip


def test_given_image_without_local_code_when_gated_then_the_gate_asks_for_it(
    tmp_path: Path,
) -> None:
    version = the_version()
    root = scratch_project(tmp_path)

    def edit(services: Any) -> None:
        raw = services[version.service]["versions"][version.key]
        del raw["code"]
        raw["image"] = image_uri()

    edit_stack(root, STACK, edit)
    _, problems = find_contracts(root)
    assert any(f"{version.service} {version.key} is an image version without localCode" in p
               for p in problems), problems  # fmt: skip


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("local_code", [True, False])
def test_given_image_version_when_served_locally_then_it_runs_its_local_code_or_says_why_not(
    local_code: bool,
) -> None:
    version = the_version()
    settings = settings_from_engine_config(as_image(local_code=local_code), stack=STACK,
                                           project_root=PROJECT_ROOT,
                                           today=date.fromisoformat(TODAY))  # fmt: skip
    with LocalApi(settings) as api:
        status, body = _get(f"{api.url}{version.base_path}/health")
    if local_code:
        assert status == 200 and body["version"] == version.key
    else:
        assert status == 501 and "without localCode" in body["message"]
        assert "give localCode" in body["message"]


def test_given_all_versions_images_when_registered_then_no_layer_is_built() -> None:
    settings = stack_settings(STACK, today=date.fromisoformat(TODAY))
    versions = [v for v in settings.deployed_versions() if v.service == the_version().service]

    def edit(services: dict[str, Any]) -> None:
        for name in list(services):
            if name != the_version().service:
                del services[name]
        for version in versions:
            raw = services[version.service]["versions"][version.key]
            raw["localCode"] = raw.pop("code")
            raw["image"] = image_uri(digest=f"{version.major:064x}")

    run = run_program(edited(stack_config(STACK), edit), stack=STACK, today=TODAY)
    assert run.error is None, run.error
    assert run.of_type(LAYER) == []
    assert {f.inputs["packageType"] for f in run.of_type(FUNCTION)
            if "mlserve:service" in f.inputs["tags"]} == {"Image"}  # fmt: skip


def test_given_image_version_when_registered_then_it_waits_for_the_pull_policy(
    image_run: ProgramRun,
) -> None:
    version = the_version()
    (function,) = [
        f for f in image_run.of_type(FUNCTION) if f.inputs["name"] == version.function_name
    ]
    (policy,) = image_run.of_type(REPOSITORY_POLICY)
    assert policy.urn in function.dependencies


def test_given_rolled_out_image_versions_only_when_registered_then_the_hook_has_a_layer() -> None:
    version = the_version()

    def edit(services: dict[str, Any]) -> None:
        for name in list(services):
            if name != version.service:
                del services[name]
        for key, raw in services[version.service]["versions"].items():
            if "code" in raw:
                raw["localCode"] = raw.pop("code")
                raw["image"] = image_uri(digest=f"{int(key[1:]):064x}")
        services[version.service]["versions"][version.key]["rollout"] = {"strategy": "canary"}

    run = run_program(edited(stack_config(STACK), edit), stack=STACK, today=TODAY)
    assert run.error is None, run.error
    layers = {layer.outputs["arn"] for layer in run.of_type(LAYER)}
    hooks = [f for f in run.of_type(FUNCTION) if "mlserve:service" not in f.inputs.get("tags", {})]
    assert hooks and all(set(hook.inputs["layers"]) <= layers and layers for hook in hooks)
