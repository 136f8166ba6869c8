"""The engine's shape: one rule per module, no module reaching back to an earlier one on a
request's way through, small classes and functions, and a README that names what exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "vcc_tokens"
# The order one GET goes through the engine: each module may use only modules after it.
ENGINE_ORDER = [
    "vendor",
    "renewals",
    "single_flight",
    "minting",
    "fallback",
    "cache",
    "freshness",
    "outcome",
]
MAX_CLASS_LINES, MAX_FUNCTION_LINES = 150, 40
SETTINGS_TABLE = {("config.py", "Settings")}  # the table of settings: data, not a function


def engine_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / "vending" / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        module_name = node.module if isinstance(node, ast.ImportFrom) else None
        if module_name and module_name.startswith("vcc_tokens.vending."):
            found.add(module_name.rsplit(".", 1)[1])
    return found


def test_the_engine_package_has_exactly_the_documented_modules() -> None:
    modules = {path.stem for path in (PACKAGE / "vending").glob("*.py")} - {"__init__"}
    assert modules == set(ENGINE_ORDER)


@pytest.mark.parametrize("module", ENGINE_ORDER)
def test_each_module_uses_only_the_modules_after_it(module: str) -> None:
    later = set(ENGINE_ORDER[ENGINE_ORDER.index(module) + 1 :])
    assert engine_imports(module) <= later, engine_imports(module) - later


@pytest.mark.parametrize(
    "folder",
    [
        PACKAGE,
        ROOT / "layers" / "common" / "contract",
        ROOT / "client" / "vcc_token_client",
        ROOT / "local",
        ROOT / "functions",
        ROOT / "iam",
        ROOT / "checks",
        ROOT / "bench",
        ROOT / "generators",
        ROOT / "release",
    ],
    ids=lambda folder: str(folder.relative_to(ROOT)),
)
def test_no_class_over_150_lines_and_no_function_over_40(folder: Path) -> None:
    too_long = []
    for path in sorted(folder.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit and (path.name, node.name) not in SETTINGS_TABLE:
                    too_long.append(f"{path.relative_to(ROOT)} {node.name}: {lines} lines")
    assert not too_long, too_long


def test_every_module_the_docs_name_exists() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    named = set(re.findall(r"vcc_tokens/[\w/]+\.py", text))
    assert named, "the docs name no module"
    missing = sorted(name for name in named if not (PACKAGE.parent / name).exists())
    assert not missing, missing


def test_the_readme_is_short_and_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in readme, f"the README does not link docs/{page.name}"


EXIT_TAKERS = {"AdminError", "Check", "exit"}  # what takes an exit code as an argument


def _bare_numbers(nodes: list[ast.expr]) -> bool:
    """Whether any of `nodes` is an integer written out (or a conditional choosing one)."""
    for node in nodes:
        if isinstance(node, ast.IfExp):
            if _bare_numbers([node.body, node.orelse]):
                return True
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            return True
    return False


def test_the_client_names_every_exit_code() -> None:
    """An exit code is a member of the Exit enum (one meaning each), never a number: in what
    a CLI verb returns and in every call that carries one."""
    bare = []
    for path in sorted((ROOT / "client" / "vcc_token_client").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and ast.unparse(node.returns or node) == "Exit":
                returned = [
                    r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value
                ]
                if _bare_numbers(returned):
                    bare.append(f"{path.name} {node.name}")
            takes_a_code = (
                isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in EXIT_TAKERS
            )
            if takes_a_code and _bare_numbers([*node.args, *(k.value for k in node.keywords)]):
                bare.append(f"{path.name}:{node.lineno}")
    assert not bare, bare


def test_no_module_imports_another_ones_private_names() -> None:
    """A name with a leading underscore stays in its module: what two modules share is public
    (as the admin verbs' AWS helpers are, in vcc_token_client.admin.support). Dunder names
    (`__version__`) are public."""
    rooms = [
        "layers",
        "client",
        "functions",
        "local",
        "iam",
        "checks",
        "bench",
        "generators",
        "release",
    ]
    private = []
    for path in sorted(p for room in rooms for p in (ROOT / room).rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [a.name for a in node.names if a.name.startswith("_") and a.name[1] != "_"]
                private += [f"{path.relative_to(ROOT)}: {node.module}.{name}" for name in names]
    assert not private, private


# The layer's rooms, top to bottom: a module may import from its own room or a room below it,
# never above (the wiring assembles everything; the plain values import nothing but values).
LAYER_ROOMS = {
    "wiring": 0,
    "api": 1,
    "vending": 2,
    "rotation": 2,
    "vcc": 3,
    "aws": 4,
    "values": 5,
    "observability": 6,
    "lazy_imports": 6,
}


def _room(module: str) -> str:
    """vcc_tokens.aws.table -> aws; vcc_tokens.wiring -> wiring."""
    return module.split(".")[1]


def test_the_layer_has_exactly_the_documented_rooms() -> None:
    found = {path.stem for path in PACKAGE.iterdir() if path.suffix == ".py" or path.is_dir()}
    assert found - {"__init__", "__pycache__"} == set(LAYER_ROOMS)


def test_no_module_of_the_layer_imports_from_a_room_above_its_own() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        here = ".".join(relative.parts)
        if here.endswith("__init__") and len(relative.parts) == 2:
            continue  # the package's own __init__ (its version)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imported = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            into_the_layer = imported.startswith("vcc_tokens.")
            if into_the_layer and LAYER_ROOMS[_room(imported)] < LAYER_ROOMS[_room(here)]:
                upward.append(f"{here} imports {imported}")
    assert not upward, upward


def test_the_design_map_names_every_module_of_the_layer() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    modules = sorted(
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py"
    )
    assert [module for module in modules if module not in design] == []


def _defined_names() -> set[str]:
    """Every class, function, method and module-level constant of the project's code, by name
    and as Class.member."""
    names: set[str] = set()
    for room in ("layers", "client", "functions", "local", "tests"):
        for path in (ROOT / room).rglob("*.py"):
            if "build" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef | ast.FunctionDef):
                    names.add(node.name)
                if isinstance(node, ast.ClassDef):
                    members = [m for m in node.body if isinstance(m, ast.FunctionDef)]
                    names |= {f"{node.name}.{member.name}" for member in members}
            for statement in tree.body:
                targets = statement.targets if isinstance(statement, ast.Assign) else []
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_the_glossary_names_only_what_the_code_has() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    glossary = design.split("## Glossary", 1)[1].split("\n## ", 1)[0]
    code_column = [row.split("|")[3] for row in glossary.splitlines() if row.startswith("| ")]
    named = {name for cell in code_column[1:] for name in re.findall(r"`([^`]+)`", cell)}
    assert len(named) > 10
    defined = _defined_names()
    missing = sorted(
        name
        for name in named
        if not (ROOT / "layers" / "common" / name).exists()
        and not (ROOT / name).exists()
        and name not in defined
        and not name.startswith(("/", "RefreshFunction"))  # deployed names, from the template
    )
    assert missing == []
