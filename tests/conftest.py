"""Shared fixtures: one program run per example stack, reused by the tests that only read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlserve.offline import ProgramRun, run_program
from mlserve.stack_files import stack_config
from tests.support.scratch import repo_copy
from tests.support.stacks import with_api

TODAY = "2026-11-27"  # pinned so time-dependent lifecycle notes never change a verdict


@pytest.fixture(scope="session")
def prod_run() -> ProgramRun:
    """The prod stack as the engine would see it."""
    run = run_program(stack_config("prod"), stack="prod", today=TODAY)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="session")
def dev_run() -> ProgramRun:
    """The dev stack as the engine would see it."""
    run = run_program(stack_config("dev"), stack="dev", today=TODAY)
    assert run.error is None, run.error
    return run


@pytest.fixture(scope="session")
def prod_per_service_run() -> ProgramRun:
    """The prod stack on the perService layout: an HTTP API per service, mapped on its domain."""
    run = run_program(
        with_api(stack_config("prod"), layout="perService"), stack="prod", today=TODAY
    )
    assert run.error is None, run.error
    return run


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch copy of the whole repository, for commands that change it."""
    return repo_copy(tmp_path)
