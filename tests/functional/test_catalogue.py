"""The version catalogue: generated from the stack configs and kept up to date in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.settings.model import Canary
from mlserve import catalogue
from mlserve.stack_files import stack_files, stack_settings


@pytest.mark.parametrize("stack", list(stack_files()))
def test_given_stack_when_rendered_then_every_version_has_its_lifecycle_row(stack: str) -> None:
    settings = stack_settings(stack)
    page = catalogue.render(settings)
    for service in settings.services.values():
        assert f"## {service.key}" in page
        auth = "IAM (SigV4)" if service.auth == "iam" else "none"
        assert f"Authorization: {auth}." in page
        for version in service.versions.values():
            name = f"{version.function_name}:{version.alias_name}"
            assert f"| {version.key} | {version.status} | `{name}` |" in page
            dates = (
                version.deprecated_on or "-",
                version.sunset_on or "-",
                version.successor or "-",
            )
            assert "| {} | {} | {} |".format(*dates) in page
            for route in version.all_routes if version.deployed else ():
                assert f"`{route.method} {version.base_path}{route.path}`" in page


@pytest.mark.parametrize("stack", list(stack_files()))
def test_given_queue_versions_when_rendered_then_batch_callers_find_their_queues(
    stack: str,
) -> None:
    settings = stack_settings(stack)
    for service in settings.services.values():
        page = catalogue.render(settings).split(f"## {service.key}\n", 1)[1].split("\n## ")[0]
        for version in service.deployed_versions:
            (line,) = [
                line for line in page.splitlines() if line.startswith(f"- **{version.key}**")
            ]
            if version.queue is None:
                assert "Batch:" not in line
                continue
            for kind in ("work", "results", "deadLetter"):
                assert f"`{version.queue_name(kind)}`" in line
            assert f"batches of {version.queue.batch_size}" in line


def test_given_pin_and_canary_when_rendered_then_the_served_versions_are_shown() -> None:
    settings = stack_settings("dev")
    version = next(v for v in settings.deployed_versions() if v.status == "active")
    pinned = version.model_copy(update={"pin": 4})
    canary = version.model_copy(update={"pin": 4, "canary": Canary(weight=0.1)})
    service = settings.services[version.service]
    for changed, text in (
        (pinned, "version 4 (pinned)"),
        (canary, "version 4, 10% canary to the newest"),
    ):
        services = {
            **settings.services,
            version.service: service.model_copy(
                update={"versions": {**service.versions, version.key: changed}}
            ),
        }
        assert text in catalogue.render(settings.model_copy(update={"services": services}))


def test_given_checked_in_pages_when_checked_then_they_match_the_configs() -> None:
    assert catalogue.main(["--check"]) == 0


def test_given_stale_page_when_checked_then_check_fails_and_says_how_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(catalogue, "CATALOGUE_DIR", tmp_path)
    assert catalogue.main([]) == 0
    (tmp_path / "prod.md").write_text("old\n")
    assert catalogue.main(["--check"]) == 1
    assert "run `python -m mlserve catalogue`" in capsys.readouterr().err
