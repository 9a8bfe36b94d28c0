"""A stack promoted from another deploys only what that stack deployed: every version function's
code package and every dependency layer must have a hash the other stack's ledger records.

A stack opts in with `mlserve:promoteFrom: dev` in its own config (so dropping the policy config
cannot switch the check off: without the other ledger it fails), and the check reads the ledger
given as this policy's `promoteFrom` config (`python -m mlserve ledger ... --promote-from`). The
hashes are computed here from the bytes the engine would upload: a code package's `CodeSha256`
(base64 SHA-256 of the zip), a layer folder's `tree_sha256`, an image's digest.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from conventions import PROMOTION_POLICY, VersionRef, code_sha256, parse_function_name, tree_sha256
from properties import Unknown, Unknowns, guarded, lookup, text
from resources import FUNCTION, LAYER
from stack_config import stack_config
from stack_index import index_stack

SCHEMA = PolicyConfigSchema(
    properties={
        "promoteFrom": {
            "description": (
                "The ledger of the stack this one is promoted from (`python -m mlserve ledger "
                "--from <its pulumi stack output --json>`): its versions' codeSha256 and "
                "layerSha256 are what this stack may deploy."
            ),
            "type": "object",
        }
    }
)


def releases_promoted_validator(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    """Compare the code and layers of this update with the other stack's ledger."""
    config = stack_config()
    given = (args.get_config() or {}).get("promoteFrom")
    if config.promote_from is None and given is None:
        return  # this stack is not promoted from another
    source = config.promote_from or "the stack named in promoteFrom"
    ledger = given.get("ledger", given) if isinstance(given, Mapping) else None
    if not isinstance(ledger, Mapping) or not isinstance(ledger.get("versions"), Mapping):
        report_violation(
            f"stack {config.stack} deploys only what {source} deployed (mlserve:promoteFrom), "
            f"but no ledger of {source} was given: pass it as the promoteFrom config (`python -m "
            f"mlserve ledger --from <this stack's output> --promote-from <{source}'s output>`, "
            "or `mlserve preview --promote-from FILE`)",
            None,
        )
        return
    if config.promote_from is not None and ledger.get("stack") != config.promote_from:
        report_violation(
            f"the promoteFrom ledger is stack {ledger.get('stack')!r}'s, but this stack is "
            f"promoted from {config.promote_from!r} (mlserve:promoteFrom); give that one's ledger",
            None,
        )
        return
    codes, layers = _released(ledger["versions"])
    unknowns = Unknowns()
    index = index_stack(args.resources)
    for function in index.of_type(FUNCTION):
        name = text(function.props, "name")
        ref = parse_function_name(config.name_prefix, name) if isinstance(name, str) else None
        if ref is None or name in config.platform_functions:
            continue  # not a version (the rollout hook and the janitor are platform code)
        image = text(function.props, "imageUri")
        if text(function.props, "packageType") == "Image":
            digest = image.rpartition("@sha256:")[2] if isinstance(image, str) else None
        else:
            digest = _digest(lookup(function.props, "code"))
        if digest is None:
            unknowns.note(f"the code package of {name}")
        elif digest != codes.get(ref):
            report_violation(_code_problem(ref, digest, codes.get(ref), source), function.urn)
    for layer in index.of_type(LAYER):
        digest = _digest(lookup(layer.props, "code"))
        if digest is None:
            unknowns.note(f"the layer {text(layer.props, 'layerName')}")
        elif digest not in layers:
            report_violation(
                f"layer {text(layer.props, 'layerName')!r} has files (tree_sha256 {digest}) that "
                f"no version of {source} deployed; deploy the same lock to {source} first",
                layer.urn,
            )
    unknowns.raise_if_any()


def _released(versions: Mapping[str, Any]) -> tuple[dict[VersionRef, str], set[str]]:
    codes: dict[VersionRef, str] = {}
    layers: set[str] = set()
    for service, entries in versions.items():
        for key, entry in (entries if isinstance(entries, Mapping) else {}).items():
            if not isinstance(entry, Mapping) or entry.get("status") == "retired":
                continue
            if isinstance(entry.get("codeSha256"), str):
                codes[VersionRef(str(service), str(key))] = entry["codeSha256"]
            if isinstance(entry.get("layerSha256"), str):
                layers.add(entry["layerSha256"])
    return codes, layers


def _code_problem(ref: VersionRef, digest: str, released: str | None, source: str) -> str:
    if released is None:
        return (
            f"{ref} has never been deployed to {source} (its ledger has no codeSha256 for it); "
            f"deploy it to {source} first, then promote the same commit"
        )
    return (
        f"{ref} would deploy code {digest}, but {source} deployed {released}; deploy this code "
        f"to {source} first (or promote the commit {source} runs)"
    )


def _digest(archive: Any) -> str | None:
    """The hash of what an archive uploads: a zip's CodeSha256, a folder's tree_sha256; None
    when it is unknown or not readable here."""
    if isinstance(archive, Unknown) or not isinstance(archive, pulumi.Archive):
        return None
    path = getattr(archive, "path", None)
    if not isinstance(path, str):
        return None
    location = Path(path)
    try:
        if location.is_dir():
            return tree_sha256(location)
        if zipfile.is_zipfile(location):
            return code_sha256(location.read_bytes())
    except OSError:
        return None
    return None


releases_promoted_from_tested_stack = StackValidationPolicy(
    name=PROMOTION_POLICY,
    description=(
        "Requires a stack with mlserve:promoteFrom to deploy only code packages and layers whose "
        "hashes the ledger of that stack records."
    ),
    validate=guarded(releases_promoted_validator),
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=SCHEMA,
    remediation_steps=(
        "Deploy the commit to the stack named in mlserve:promoteFrom first, then give its ledger "
        "as this policy's promoteFrom config."
    ),
)
