"""`python -m mlserve new service NAME --from SERVICE/vN --stack S ...` and
`python -m mlserve new version SERVICE vN --from vM --stack S ...`: a new service (its v1) or a new
major of a service, its code a copy of an existing version's with the SURFACE (and the version's
mentions in docstrings) rewritten, added as active to the named stacks, its contract locked, docs
and client regenerated, then validated."""

from __future__ import annotations

import argparse
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from mlserve.stack_files import PROJECT_ROOT
from mlserve.workflow import Change, WorkflowError, apply, common_arguments, load_stacks, run
from mlserve_runtime.conventions import SERVICE, VERSION, declared_surface

IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def copy_code(source: Path, service: str, version: str) -> Callable[[Path], None]:
    """Fill the new folder from `source`, saying in its code which version it now is."""
    surface = declared_surface((source / "contract.py").read_text())
    old_service, old_version = (surface["service"], surface["version"]) if surface else ("", "")

    def fill(target: Path) -> None:
        shutil.copytree(source, target, ignore=IGNORED)
        for path in target.glob("*.py"):
            text = path.read_text()
            text = re.sub(rf'"service": "{old_service}"', f'"service": "{service}"', text)
            text = re.sub(rf'"version": "{old_version}"', f'"version": "{version}"', text)
            text = re.sub(rf"\b{old_service} {old_version}\b", f"{service} {version}", text)
            path.write_text(text)

    return fill


def _source(service: str, version: str) -> Path:
    folder = PROJECT_ROOT / "services" / service / version
    if not (folder / "contract.py").is_file():
        raise WorkflowError(
            f"--from {service}/{version}: services/{service}/{version}/contract.py does not exist"
        )
    return folder


def new_version(args: argparse.Namespace) -> int:
    """A new major of an existing service."""
    service, version, source_version = args.service, args.version, args.source
    for key in (version, source_version):
        if not VERSION.fullmatch(key):
            raise WorkflowError(f"{key!r} is not a version key (v1, v2, ...)")
    source = _source(service, source_version)
    target = PROJECT_ROOT / "services" / service / version
    edits = load_stacks(args.stack)
    for edit in edits:
        if service not in edit.services:
            raise WorkflowError(f"{edit.path.name} has no service {service!r}; add it with "
                                "`mlserve new service`")  # fmt: skip
    existing = [edit.path.name for edit in edits if version in edit.services[service]["versions"]]
    if target.exists():
        raise WorkflowError(f"services/{service}/{version} exists already; refusing to overwrite")
    if existing:
        raise WorkflowError(f"{service} {version} is in {', '.join(existing)} already")
    for edit in edits:
        edit.services[service]["versions"][version] = _entry(service, version)
    change = Change(
        edits, folders={target: copy_code(source, service, version)}, lock_contracts=True,
        today=args.today,
        next_steps=[
            f"change services/{service}/{version}/contract.py: the contract of {version} (it may "
            f"break {source_version}'s; the gate checks {version} only against its own locks)",
            f"change the model in services/{service}/{version}/ and retrain if it is new",
            "run `python -m mlserve contracts lock` after each compatible contract change, and "
            "`python -m mlserve generate` to refresh the docs and the client",
        ],
    )  # fmt: skip
    return apply(change, dry_run=args.dry_run, done=f"added {service} {version}")


def new_service(args: argparse.Namespace) -> int:
    """A new service, its v1 a copy of an existing version."""
    service = args.name
    if not SERVICE.fullmatch(service):
        raise WorkflowError(f"{service!r} is not a service key (lowercase letters, digits, '-')")
    source_service, _, source_version = args.source.partition("/")
    if not VERSION.fullmatch(source_version):
        raise WorkflowError(f"--from {args.source!r} is not SERVICE/vN")
    source = _source(source_service, source_version)
    target = PROJECT_ROOT / "services" / service / "v1"
    edits = load_stacks(args.stack)
    existing = [edit.path.name for edit in edits if service in edit.services]
    if (PROJECT_ROOT / "services" / service).exists():
        raise WorkflowError(f"services/{service} exists already; refusing to overwrite")
    if existing:
        raise WorkflowError(f"service {service} is in {', '.join(existing)} already")
    for edit in edits:
        entry = CommentedMap()
        if args.description:
            entry["description"] = args.description
        entry["versions"] = CommentedMap(v1=_entry(service, "v1"))
        edit.services[service] = entry
    change = Change(
        edits, folders={target: copy_code(source, service, "v1")}, lock_contracts=True,
        today=args.today,
        next_steps=[
            f"change services/{service}/v1/contract.py and its model for {service}",
            "run `python -m mlserve contracts lock` and `python -m mlserve generate` after",
        ],
    )  # fmt: skip
    return apply(change, dry_run=args.dry_run, done=f"added service {service} (v1)")


def _entry(service: str, version: str) -> CommentedMap:
    return CommentedMap(code=f"services/{service}/{version}", status="active")


def main(argv: Sequence[str]) -> int:
    """`new service ...` or `new version ...`."""
    parser = argparse.ArgumentParser(
        prog="mlserve new",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="kind", required=True)
    service = kinds.add_parser("service", help="a new service, its v1 copied from a version")
    service.add_argument("name", help="the new service key, e.g. fraud")
    service.add_argument("--from", dest="source", required=True, help="SERVICE/vN to copy")
    service.add_argument("--description", help="the service's description")
    common_arguments(service)
    version = kinds.add_parser("version", help="a new major of a service, copied from a major")
    version.add_argument("service", help="the service key, e.g. churn")
    version.add_argument("version", help="the new major, e.g. v3")
    version.add_argument("--from", dest="source", required=True, help="the major to copy, e.g. v2")
    common_arguments(version)
    args = parser.parse_args(list(argv))
    body = new_service if args.kind == "service" else new_version
    return run("new", lambda: body(args))
