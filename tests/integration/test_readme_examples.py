"""The examples of the README and of docs/, extracted from the pages and run as written against
`make run`'s stack on free ports (not the defaults), so they cannot drift from the code.

An example is a fenced sh or python block right after the marker comment. The first one is the
export block `make run` prints (for the default ports); the reader pastes the one their stack
printed, and the other examples reach the stack only through those variables.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from vcc_token_client.testing.sigv4 import load_callers

from local.exports import export_block
from local.inputs import DEFAULT_CALLERS
from local.stack import DEAD_LETTER_QUEUE
from tests.stack_support import Stack, free_port, running_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- example: runs against make run (tests/integration/test_readme_examples.py) -->"
BLOCK = re.compile(re.escape(MARKER) + r"\n```(sh|python)\n(.*?)\n```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    """The README's examples, then those of the pages under docs/ (the first sets variables)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    found = BLOCK.findall(text)
    assert len(found) == text.count(MARKER), "a marker is not followed by a sh or python block"
    return found


EXAMPLES = examples()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory like the repository's root (the examples name .venv/ and local/), in which
    files the examples write (proxy.json) land."""
    here = tmp_path_factory.mktemp("readme")
    for name in (".venv", "local", "events"):
        (here / name).symlink_to(ROOT / name)
    return here


def without_exports(code: str) -> str:
    """The first example minus its export lines: the reader pasted the stack's own instead."""
    return "\n".join(line for line in code.splitlines() if not line.startswith("export "))


def run(
    language: str, code: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    command = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [
        sys.executable, "-c", code
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its background jobs (the proxy) die with it
    )
    try:
        out, err = process.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.fixture(scope="module")
def reader_env(stack: Stack) -> dict[str, str]:
    """A reader's shell after pasting the export lines the stack printed (its own ports)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VCC_", "LOCAL_"))}
    return {**env, **stack.exports}


def test_the_first_example_is_what_make_run_prints_for_the_default_ports() -> None:
    language, code = EXAMPLES[0]
    assert language == "sh"
    printed = export_block(
        "http://127.0.0.1:3000",
        "http://127.0.0.1:5000",
        "http://127.0.0.1:8081",
        f"http://127.0.0.1:5000/123456789012/{DEAD_LETTER_QUEUE}",
        load_callers(DEFAULT_CALLERS),
    )
    assert [line for line in code.splitlines() if line.startswith("export ")] == printed.split("\n")


def test_the_examples_name_no_port_but_through_the_variables() -> None:
    for _, code in EXAMPLES[1:]:
        assert not re.search(r"127\.0\.0\.1:(3000|5000|8081)\b", code), code


@pytest.mark.parametrize(
    ("language", "code"),
    EXAMPLES,
    ids=[f"{number}-{language}" for number, (language, _) in enumerate(EXAMPLES)],
)
def test_the_readme_example_runs_as_written(
    language: str, code: str, stack: Stack, workspace: Path, reader_env: dict[str, str]
) -> None:
    env = {**reader_env, "VCC_PROXY_PORT": str(free_port())}
    done = run(language, without_exports(code), workspace, env)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert done.stdout.strip(), "the example printed nothing"


def test_the_examples_cover_each_way_in() -> None:
    text = "\n".join(code for _, code in EXAMPLES)
    for way in (
        "vcc-token token",
        "TokenClient(",
        "vcc-token proxy",
        "OAuth2Session",
        "admin smoke",
    ):
        assert way in text, way
