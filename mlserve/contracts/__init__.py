"""Contracts per major version: `schema_diff` tells which schema changes break callers, `loader`
reads a version's contract as the locks keep it, `gate` checks and appends the locks."""

from mlserve.contracts.gate import breaking_changes, check_all, find_contracts, lock_all, main
from mlserve.contracts.loader import canonical_json, contract_schemas
from mlserve.contracts.schema_diff import Direction, Finding, compare_schemas

__all__ = [
    "Direction",
    "Finding",
    "breaking_changes",
    "canonical_json",
    "check_all",
    "compare_schemas",
    "contract_schemas",
    "find_contracts",
    "lock_all",
    "main",
]
