"""The version catalogue: generated from the stack configs and kept up to date in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlserve import catalogue
from mlserve.offline import stack_settings


def test_given_prod_when_rendered_then_every_version_has_its_lifecycle_row() -> None:
    page = catalogue.render(stack_settings("prod"))
    assert "| v1 | deprecated | `churn_v1:prod_v1` | newest published version " in page
    assert "| 2026-09-01 | 2027-06-30 | v2 |" in page
    assert "| v2 | active | `churn_v2:prod_v2` | version 3 (pinned) |" in page
    assert "`POST /churn/v2/predict`" in page and "`GET /churn/v2/health`" in page
    assert "Authorization: IAM (SigV4)." in page


def test_given_dev_canary_when_rendered_then_share_is_shown() -> None:
    page = catalogue.render(stack_settings("dev"))
    assert "version 4, 10% canary to the newest" in page


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
