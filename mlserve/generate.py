"""`python -m mlserve generate [--check]`: every checked-in generated file at once: the version
catalogue and OpenAPI document of each stack, the policy pack's vendored copy of the
conventions module, and the generated modules of the client package."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mlserve import catalogue, client_package, openapi
from mlserve.generated import Files, write_or_check
from mlserve.stack_files import PROJECT_ROOT

CONVENTIONS = PROJECT_ROOT / "services" / "runtime" / "mlserve_runtime" / "conventions.py"
VENDORED_CONVENTIONS = PROJECT_ROOT / "policies" / "conventions.py"


def vendored() -> Files:
    """The pack's byte-for-byte copy of the conventions module (the pack ships on its own)."""
    return {VENDORED_CONVENTIONS: CONVENTIONS.read_text()}


def files() -> Files:
    """Everything generated, by target path."""
    return {**catalogue.files(), **openapi.files(), **vendored(), **client_package.files()}


def main(argv: Sequence[str]) -> int:
    """Write every generated file, or with --check fail if one is stale."""
    parser = argparse.ArgumentParser(prog="mlserve generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args(list(argv))
    return write_or_check(files, "generate", args.check)
