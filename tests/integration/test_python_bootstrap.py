"""A machine without Python 3.13 is still a fresh machine for `make run` and `make test`: pointed
at an interpreter that is not 3.13, the Makefile gets a managed CPython 3.13 with uv (pinned and
hash-checked, installed with the python3 that is there) where the network allows it, and says
what to install where it does not. This machine reaches PyPI but not GitHub, where uv downloads
Pythons from: both ends of that are checked here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SH, MAKE = shutil.which("sh") or "/bin/sh", shutil.which("make") or "/usr/bin/make"


def repository_copy(tmp_path: Path) -> Path:
    """What `make python` reads: the Makefile, the bootstrap script and its lock."""
    for name in ("Makefile", "local/python313.sh", "requirements/bootstrap.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_a_313_interpreter_is_taken_as_it_is(tmp_path: Path) -> None:
    found = subprocess.run(
        [SH, "local/python313.sh", sys.executable],
        cwd=repository_copy(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert found.stdout.strip() == sys.executable
    assert not (tmp_path / ".venv-bootstrap").exists()  # nothing fetched


def older_python(where: Path) -> str:
    """An interpreter that is not 3.13: a real older one if the machine has one, else a stand-in
    that answers the version check as Python 3.12 would (the check is all the Makefile asks)."""
    for path in sorted(Path.home().glob(".pyenv/versions/3.1[0-2]*/bin/python3.1[0-2]")):
        if path.is_file():
            return str(path)
    stand_in = where / "python3.12"
    stand_in.write_text("#!/bin/sh\nexit 1\n")
    stand_in.chmod(0o755)
    return str(stand_in)


def test_pointed_at_another_python_it_bootstraps_uv_then_gets_313_or_says_what_to_install(
    tmp_path: Path,
) -> None:
    not_313 = older_python(tmp_path)
    done = subprocess.run(
        [MAKE, "--no-print-directory", f"PYTHON={not_313}", "python"],
        cwd=repository_copy(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = done.stderr
    assert f"make: {not_313} is not Python 3.13 or newer; getting a managed CPython 3.13" in said
    # uv came from the lock, hash-checked, with the python3 that was there
    assert (tmp_path / ".venv-bootstrap" / "bin" / "uv").is_file()
    assert "[2/2] CPython 3.13 into .uv-python/" in said
    if done.returncode == 0:  # the network let uv download it
        managed = subprocess.run(
            [SH, "local/python313.sh", not_313],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert managed.startswith(str(tmp_path / ".uv-python"))
    else:  # it did not: today's one line says what to install
        assert "uv could not download Python 3.13" in said
        assert (
            "Python 3.13 or newer is needed (the Lambda runtime's): install it (pyenv install "
            "3.13, or apt install python3.13) or run make PYTHON=/path/to/python3.13"
        ) in said
