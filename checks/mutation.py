"""`make mutants`: do the engine's tests fail when the engine is wrong? mutmut changes one thing
at a time in the engine (a comparison, a constant, a returned value, a call's argument) and runs
the tests that cover the changed function; a change no test notices is a survivor, printed here.

Scope: the engine (`vcc_tokens/vending/` and the failure memory,
`vcc_tokens/values/backoff.py`) against its unit tests (in-memory fakes, a fake clock: no
sockets, so each mutant runs in milliseconds on a forked worker). The cache's contract test is
not in it: it runs on moto's server, a thread of the test process that a forked worker would
not have, and the storage it checks is not mutated.

Not judged here: what a log line or a metric says (the statements calling the logger, the
metrics or `count_for_credential`). Their words and fields are checked where they leave the
process, by the integration tests (the ledger line, the metrics an alarm reads, the secrets
guard); the unit tests use no log or metric sink. The staged copy marks those statements
`# pragma: no mutate`, so the checkout carries no pragma.

mutmut names a mutant after its module's dotted path, taken from the file's path, so it cannot
mutate `layers/common/vcc_tokens` under the name the tests import (`vcc_tokens`). The run happens
in a copy of the tracked tree (build/mutation/) where the package sits at the top; nothing in
the checkout is changed.

The last figure and every survivor with why it is left are in docs/mutation.md.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess  # nosec B404: runs git and mutmut with fixed arguments
import sys
from collections import Counter
from pathlib import Path
from typing import TypeGuard

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / "build" / "mutation"
PACKAGE = Path("layers/common/vcc_tokens")
MUTATED = ["vcc_tokens/vending/*.py", "vcc_tokens/values/backoff.py"]
TESTS = [
    "tests/unit/test_vending.py",
    "tests/unit/test_minting.py",
    "tests/unit/test_freshness.py",
    "tests/unit/test_backoff.py",
]
CONFIG = f"""
[tool.mutmut]
source_paths = ["vcc_tokens"]
only_mutate = {MUTATED!r}
pytest_add_cli_args_test_selection = {TESTS!r}
pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:randomly", "-q"]
also_copy = ["layers", "local", "iam", "functions", "events", "template.yaml", "client"]
"""
OBSERVING = {"logger", "metrics", "count_for_credential"}  # what only logs or counts
STATUS = re.compile(r"^\s*(?P<name>\S+): (?P<status>[a-z ]+)$")


def stage() -> None:
    """build/mutation: the checkout's files (tracked, or new and not ignored), with the
    service's package at the top."""
    shutil.rmtree(STAGE, ignore_errors=True)
    git = shutil.which("git") or "git"
    listed = [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(  # noqa: S603  # nosec B603: fixed arguments
        listed, cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = ROOT / name
        relative = Path(name)
        if relative.is_relative_to(PACKAGE):
            relative = Path("vcc_tokens") / relative.relative_to(PACKAGE)
        if source.is_file():
            target = STAGE / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            if target.suffix == ".py" and relative.parts[0] == "vcc_tokens":
                target.write_text(unjudged(target.read_text()))
    with (STAGE / "pyproject.toml").open("a") as pyproject:
        pyproject.write(CONFIG)


def _observing(node: ast.AST) -> TypeGuard[ast.Expr]:
    """A statement that only logs or counts: a call on the logger or the metrics, or to
    count_for_credential."""
    if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Call):
        return False
    called = node.value.func
    while isinstance(called, ast.Attribute):
        called = called.value
    return isinstance(called, ast.Name) and called.id in OBSERVING


def unjudged(source: str) -> str:
    """`source` with every line of its observing statements marked `# pragma: no mutate`;
    the syntax tree is checked unchanged (a comment added inside a string would change it)."""
    tree = ast.parse(source)
    marked = {
        line
        for node in ast.walk(tree)
        if _observing(node)
        for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    lines = source.splitlines()
    for line in marked:
        lines[line - 1] += "  # pragma: no mutate"
    staged = "\n".join(lines) + "\n"
    if ast.dump(ast.parse(staged)) != ast.dump(tree):
        raise SystemExit("a pragma would have changed the code it marks")
    return staged


def mutmut(*args: str, capture: bool = False) -> str:
    mutmut_bin = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "PYTHONPATH": ""}  # the staged copy only, never the checkout's package
    done = subprocess.run(  # noqa: S603  # nosec B603: our own venv's mutmut, fixed arguments
        [str(mutmut_bin), *args],
        cwd=STAGE,
        env=env,
        check=False,
        capture_output=capture,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"mutmut {' '.join(args)} failed (exit {done.returncode})")
    return done.stdout if capture else ""


def statuses() -> dict[str, str]:
    """Each mutant's name and status, from `mutmut results --all true`."""
    found = {}
    for line in mutmut("results", "--all", "true", capture=True).splitlines():
        matched = STATUS.match(line)
        if matched:
            found[matched["name"]] = matched["status"]
    return found


def main() -> None:
    stage()
    mutmut("run", "--max-children", str(os.cpu_count() or 2))
    results = statuses()
    if not results:  # nothing read is not nothing surviving
        raise SystemExit("mutation check: mutmut reported no mutants; nothing was judged")
    killed = sum(status == "killed" for status in results.values())
    survivors = sorted(name for name, status in results.items() if status != "killed")
    for name in survivors:
        print(f"--- {name}: {results[name]}")
        print(mutmut("show", name, capture=True))
    tally = Counter(results[name] for name in survivors)
    left = ", ".join(f"{count} {status}" for status, count in sorted(tally.items()))
    print(f"mutation check: {killed} of {len(results)} mutants killed; left: {left or 'none'}")
    if tally.keys() - {"survived", "timeout"}:  # "not checked", "no tests", "suspicious"...
        raise SystemExit("mutation check: some mutants no test ran, or that did not finish (above)")


if __name__ == "__main__":
    main()
