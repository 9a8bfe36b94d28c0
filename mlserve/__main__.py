"""mlserve's command line: `python -m mlserve <command>`; every command documents itself (-h)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from components.settings import ConfigError
from mlserve.stack_files import stack_files, stack_settings


def validate(argv: Sequence[str]) -> int:
    """Validate stack configs and print the versions each stack would deploy."""
    parser = argparse.ArgumentParser(prog="mlserve validate", description=validate.__doc__)
    parser.add_argument("--stack", action="append", help="stack name (default: every stack)")
    parser.add_argument("--all", action="store_true", help="every Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    failed = 0
    for stack in args.stack or list(stack_files()):
        try:
            settings = stack_settings(stack)
        except ConfigError as error:
            print(f"stack {stack}: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"stack {stack} (environment {settings.environment}): config valid")
        for version in settings.versions():
            served = "-" if not version.deployed else (
                f"pinned {version.pin}" if version.pin is not None else "newest published"
            )  # fmt: skip
            print(
                f"  {version.service:<16} {version.key:<4} {version.status:<10} "
                f"{version.function_name}:{version.alias_name} -> {served}"
            )
        for warning in settings.warnings:
            print(f"  warning: {warning}")
    return 1 if failed else 0


def _lazy(module: str, function: str) -> Callable[[Sequence[str]], int]:
    def run(argv: Sequence[str]) -> int:
        loaded = __import__(module, fromlist=[function])
        return int(getattr(loaded, function)(list(argv)))

    return run


COMMANDS: dict[str, tuple[Callable[[Sequence[str]], int], str]] = {
    "validate": (validate, "validate stack configs, print what each would deploy"),
    "preview": (_lazy("mlserve.preview", "main"), "offline preview: program + policy pack"),
    "ledger": (_lazy("mlserve.ledger", "main"), "stack output -> --policy-pack-config file"),
    "catalogue": (_lazy("mlserve.catalogue", "main"), "write docs/versions/<stack>.md (--check)"),
    "contracts": (_lazy("mlserve.contracts", "main"), "contracts lock|check: compatibility gate"),
    "serve": (_lazy("mlserve.local_api", "main"), "serve a stack's versions on localhost"),
    "openapi": (_lazy("mlserve.openapi", "main"), "write docs/openapi/<stack>.json (--check)"),
    "layer": (
        _lazy("mlserve.layer", "main"),
        "layer lock [--check]: the layer's hash-pinned locks",
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: python -m mlserve <command> [options]\n\ncommands:")
        for name, (_, summary) in COMMANDS.items():
            print(f"  {name:<10} {summary}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    command, _ = COMMANDS[argv[0]]
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
