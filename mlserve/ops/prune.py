"""`python -m mlserve prune --stack S [--keep N] [--apply]`: delete the published Lambda versions
(and dependency layer versions) of a stack that nothing can reach; a dry run unless `--apply`.

Never deleted: `$LATEST`; every version an alias of any environment serves or routes weight to;
versions with provisioned concurrency, an event source mapping or a permission qualified on them;
the current and target versions of an in-flight CodeDeploy deployment; a version any stack file
pins; and the newest N (default 5), kept as rollback pins. A layer version is kept while a kept
function version (or `$LATEST`) uses it, and the newest N are kept too. Right before deleting, the
function's aliases are read again, so an alias made meanwhile (by hand) keeps its version; a
version that is gone already is reported and skipped. Throttled calls are retried (botocore's
adaptive mode). The rules live in `mlserve_runtime.prune`, which the scheduled janitor
(`mlserve:pruning`) runs too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.settings import ConfigError, Settings
from mlserve.stack_files import PROJECT_ROOT, StackFileError, stack_files, stack_settings
from mlserve_runtime.conventions import codedeploy_application, layer_name
from mlserve_runtime.prune import Plan, in_flight_versions, prune_all

DEFAULT_KEEP = 5


def stack_functions(settings: Settings) -> list[str]:
    """The functions of the stack's deployed versions."""
    return [v.function_name for v in settings.deployed_versions()]


def stack_layers(settings: Settings) -> list[str]:
    """The dependency layers the stack builds."""
    return [layer_name(settings.name_prefix, *platform) for platform in settings.layer_platforms]


def pinned_versions(project_root: Path = PROJECT_ROOT) -> dict[str, dict[int, str]]:
    """Every version any stack file pins (also as a canary's base), by function name."""
    pins: dict[str, dict[int, str]] = {}
    for stack in stack_files(project_root):
        for version in stack_settings(stack, project_root=project_root).deployed_versions():
            if version.pin is not None:
                pins.setdefault(version.function_name, {})[int(version.pin)] = (
                    f"pinned by stack {stack} ({version.alias_name})"
                )
    return pins


def protected_versions(
    settings: Settings, codedeploy: Any | None, project_root: Path = PROJECT_ROOT
) -> dict[str, dict[int, str]]:
    """What the stack's files and CodeDeploy protect beyond what AWS shows as reachable."""
    protected = pinned_versions(project_root)
    if codedeploy is not None:
        application = codedeploy_application(settings.name_prefix, settings.environment)
        groups = [v.function_name for v in settings.deployed_versions() if v.rollout]
        for name, versions in in_flight_versions(codedeploy, application, groups).items():
            protected.setdefault(name, {}).update(versions)
    return protected


def prune(
    settings: Settings, lambda_client: Any, codedeploy: Any | None, keep: int, apply: bool
) -> list[Plan]:
    """Plan (and with `apply` carry out) the prune of a stack's functions and layers."""
    return prune_all(
        lambda_client, stack_functions(settings), stack_layers(settings), keep,
        protected_versions(settings, codedeploy), apply,
    )  # fmt: skip


def _keep(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: keep at least the newest 1 version (a whole number >= 1)"
        )
    return int(text)


def main(argv: Sequence[str]) -> int:
    """Print (and with --apply carry out) the stack's prune."""
    parser = argparse.ArgumentParser(
        prog="mlserve prune", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--stack", required=True, help="the stack, e.g. prod")
    parser.add_argument("--keep", type=_keep, default=DEFAULT_KEEP, metavar="N",
                        help=f"newest versions always kept (default {DEFAULT_KEEP})")  # fmt: skip
    parser.add_argument("--apply", action="store_true", help="delete (default: a dry run)")
    args = parser.parse_args(list(argv))
    import boto3  # only commands that talk to AWS need it
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        settings = stack_settings(args.stack)
        retries = Config(retries={"mode": "adaptive", "max_attempts": 10})
        lambda_client = boto3.client("lambda", region_name=settings.region, config=retries)
        codedeploy = (
            boto3.client("codedeploy", region_name=settings.region, config=retries)
            if any(v.rollout for v in settings.deployed_versions())
            else None
        )
        plans = prune(settings, lambda_client, codedeploy, args.keep, args.apply)
    except (ConfigError, StackFileError) as error:
        print(f"mlserve prune: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"mlserve prune: AWS refused: {error}; nothing more was deleted. Check the "
              "credentials, region and permissions (lambda:List*, lambda:GetPolicy, "
              "lambda:DeleteFunction, lambda:DeleteLayerVersion, and codedeploy:ListDeployments, "
              "codedeploy:GetDeployment with rollouts)", file=sys.stderr)  # fmt: skip
        return 1
    for plan in plans:
        print("\n".join(plan.lines(args.apply)))
    if not args.apply:
        print("dry run: nothing deleted; run again with --apply to delete")
    return 0
