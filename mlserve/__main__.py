"""mlserve's command line: `python -m mlserve <command>`; every command documents itself (-h)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from mlserve import __version__

# command -> (module whose main(argv) runs it, one line for the overview)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("mlserve.validate", "check stack configs and load every deployed version's code"),
    "preview": ("mlserve.preview", "offline preview: the program, then the policy pack"),
    "ledger": ("mlserve.ledger", "stack output -> the pack's --policy-pack-config file"),
    "contracts": ("mlserve.contracts.gate", "contracts lock|check: the compatibility gate"),
    "generate": ("mlserve.generate", "write every checked-in generated file (--check)"),
    "catalogue": ("mlserve.catalogue", "write docs/versions/<stack>.md (--check)"),
    "openapi": ("mlserve.openapi", "write docs/openapi/<stack>.json (--check)"),
    "client": ("mlserve.client_package", "client generate: the client's generated modules"),
    "new": ("mlserve.workflow.new", "new service|version: scaffold from an existing version"),
    "deprecate": ("mlserve.workflow.deprecate", "deprecate a major with the earliest sunset"),
    "retire": ("mlserve.workflow.retire", "retire a deprecated major after its sunset"),
    "rollout": ("mlserve.ops.rollout", "rollout start|status|stop: CodeDeploy deployments"),
    "usage": ("mlserve.ops.usage", "requests and callers per version (--check-sunset)"),
    "prune": ("mlserve.ops.prune", "delete published versions nothing can reach (--apply)"),
    "serve": ("mlserve.local_api.server", "serve a stack's versions on localhost"),
    "batch": ("mlserve.local_api.batch", "feed a file of requests to a queue version locally"),
    "layer": ("mlserve.layer", "layer lock [--check]: the layer's hash-pinned locks"),
}
USAGE = "usage: python -m mlserve [-h] [--version] <command> [options]"


def overview() -> str:
    """The list of commands."""
    lines = [USAGE, "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "`python -m mlserve <command> -h` describes a command."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to a command, as argparse would: -h exits 0, a bad command exits 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(overview())
        return 0
    if argv and argv[0] == "--version":
        print(f"mlserve {__version__}")
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(overview(), file=sys.stderr)
        problem = "a command is required" if not argv else f"unknown command {argv[0]!r}"
        print(f"mlserve: error: {problem}", file=sys.stderr)
        return 2
    module, _ = COMMANDS[argv[0]]
    return int(importlib.import_module(module).main(argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
