"""Keeps in the built layer only the botocore models of the services the functions call.

botocore carries a model (API, endpoint rules, paginators, waiters) for every AWS service, about
440 folders and 28 MB; the functions make clients of five. Every client creation lists the data
folder and looks into each service's folder (botocore's Loader.list_available_services), so
the folders cost a cold start time as well as space. The five are read from
vcc_tokens/aws/clients.py's `BotocoreService` (without importing it: this runs with whatever
Python `sam build` uses), so a client added there ships its model.

    python ship_models.py <the layer's python/ folder>
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

CLIENTS = Path(__file__).resolve().parent / "vcc_tokens" / "aws" / "clients.py"


def shipped_services(clients: Path = CLIENTS) -> set[str]:
    """The string literals of `BotocoreService = Literal[...]` in clients.py."""
    for node in ast.walk(ast.parse(clients.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Assign) or ast.unparse(node.targets[0]) != "BotocoreService":
            continue
        literal = node.value
        if isinstance(literal, ast.Subscript) and isinstance(literal.slice, ast.Tuple):
            return {str(e.value) for e in literal.slice.elts if isinstance(e, ast.Constant)}
    raise SystemExit(f"ship_models: no BotocoreService = Literal[...] in {clients}")


def keep_only(data: Path, services: set[str]) -> list[str]:
    """Removes every service folder of botocore's `data` but `services` (its files, such as
    endpoints.json and partitions.json, stay). Returns what it removed."""
    missing = services - {entry.name for entry in data.iterdir()}
    if missing:
        raise SystemExit(f"ship_models: botocore has no model for {sorted(missing)}")
    removed = sorted(e.name for e in data.iterdir() if e.is_dir() and e.name not in services)
    for name in removed:
        shutil.rmtree(data / name)
    return removed


if __name__ == "__main__":
    target = Path(sys.argv[1])
    removed = keep_only(target / "botocore" / "data", shipped_services())
    print(f"layer: botocore models kept for {sorted(shipped_services())}, {len(removed)} removed")
