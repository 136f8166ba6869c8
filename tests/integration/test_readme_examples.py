"""The examples of the README and of docs/, extracted from the pages and run as written against
`make run`'s stack (only its ports differ: the stack runs on free ones), so they cannot drift
from the code.

An example is a fenced sh or python block right after the marker comment. The first one sets
the variables the README says the others assume; a reader following the README runs it first too.
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

from tests.stack_support import Stack, free_port, running_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- example: runs against make run (tests/integration/test_readme_examples.py) -->"
BLOCK = re.compile(re.escape(MARKER) + r"\n```(sh|python)\n(.*?)\n```", re.DOTALL)
DEFAULT_PORTS = {"3000": "stack", "5000": "moto", "8081": "emulator", "8700": "proxy"}


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


def ported(code: str, stack: Stack, proxy_port: int) -> str:
    ports = {
        "stack": stack.url.rsplit(":", 1)[1],
        "moto": stack.aws_endpoint.rsplit(":", 1)[1],
        "emulator": stack.emulator_url.rsplit(":", 1)[1],
        "proxy": str(proxy_port),
    }
    for default, name in DEFAULT_PORTS.items():
        code = re.sub(rf"(?<=127\.0\.0\.1:){default}\b|(?<=--port ){default}\b", ports[name], code)
    return code


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
def reader_env(stack: Stack, workspace: Path) -> dict[str, str]:
    """The environment after the first example (its exports), as a reader's shell would have."""
    language, code = EXAMPLES[0]
    assert language == "sh"
    assert "export " in code
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VCC_"))}
    done = run("sh", ported(code, stack, 0) + "\nenv -0", workspace, env)
    assert done.returncode == 0, done.stderr
    pairs = (item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    return dict(pairs)


@pytest.mark.parametrize(
    ("language", "code"),
    EXAMPLES,
    ids=[f"{number}-{language}" for number, (language, _) in enumerate(EXAMPLES)],
)
def test_the_readme_example_runs_as_written(
    language: str, code: str, stack: Stack, workspace: Path, reader_env: dict[str, str]
) -> None:
    done = run(language, ported(code, stack, free_port()), workspace, dict(reader_env))
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
