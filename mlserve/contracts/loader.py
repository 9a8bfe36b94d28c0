"""A version's contract as the locks keep it, loaded from its `contract.py` in isolation (every
version folder has modules of the same names), and older lock files read in today's form."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from mlserve_runtime.artifacts import contract_schemas as schemas_of
from mlserve_runtime.conventions import DEFAULT_ROUTES, SURFACE_NAME

# Code that declares no SURFACE serves the default route with these models (the first contracts).
DEFAULT_MODELS = {"request": "PredictRequest", "response": "PredictResponse"}


def canonical_json(data: Any) -> str:
    """The lock file form: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stored(schemas: Any) -> Any:
    """Schemas as a lock file stores them (JSON types only), for comparing with a lock."""
    return json.loads(canonical_json(schemas))


def load_contract(contract_file: Path) -> Any:
    """Import a contract.py with its own folder's sibling modules, then forget them, so the next
    version's same-named modules load fresh; sys.path and sys.modules are left as they were. A
    module without SURFACE gets the default one (`POST /predict` and its two models)."""
    folder = contract_file.parent
    module_name = contract_file.stem  # as the handler imports it, so messages read naturally
    siblings = _sibling_modules(contract_file) | {module_name}
    spec = importlib.util.spec_from_file_location(module_name, contract_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {contract_file}")
    module = importlib.util.module_from_spec(spec)
    saved = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] in siblings}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(folder))
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] in siblings]:
            del sys.modules[name]
        sys.modules.update(saved)
        sys.path.remove(str(folder))
    if not hasattr(module, SURFACE_NAME):
        version, service = folder.name, folder.parent.name
        module.SURFACE = {  # type: ignore[attr-defined]
            "service": service,
            "version": version,
            "routes": {DEFAULT_ROUTES[0]: DEFAULT_MODELS},
        }
    return module


def contract_schemas(contract_file: Path) -> dict[str, Any]:
    """The lock form of a contract.py: per declared route, its request and response schemas."""
    return schemas_of(load_contract(contract_file))


def _sibling_modules(contract_file: Path) -> set[str]:
    """The modules and packages of the contract's folder, if the contract imports any of them.

    All of them, not only those imported directly, since siblings may import each other.
    """
    folder = contract_file.parent
    local = {path.stem for path in folder.glob("*.py")} | {
        path.parent.name for path in folder.glob("*/__init__.py")
    }
    local.discard("contract")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(contract_file.read_text(), str(contract_file))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    return local if imported & local else set()
