"""The policy pack driven as the engine drives it: `pack_process` starts it and speaks the
Analyzer protocol, `marshal` turns a program run into the engine's messages, `policy_config`
reconciles and validates a `--policy-pack-config` file."""

from mlserve.analyzer.marshal import UNKNOWN, resources_from_run, to_struct
from mlserve.analyzer.pack_process import (
    PACK_DIR,
    PolicyPackError,
    RunningPack,
    Violation,
    analyze_run,
    running_pack,
)
from mlserve.analyzer.policy_config import (
    PolicyConfigError,
    PolicyInfo,
    reconcile_policy_config,
    schema_problems,
)

__all__ = [
    "PACK_DIR",
    "UNKNOWN",
    "PolicyConfigError",
    "PolicyInfo",
    "PolicyPackError",
    "RunningPack",
    "Violation",
    "analyze_run",
    "reconcile_policy_config",
    "resources_from_run",
    "running_pack",
    "schema_problems",
    "to_struct",
]
