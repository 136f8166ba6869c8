"""The released artifacts in use: the contract's, the client's and the service's wheels (built
as `make dist` builds them) installed into a fresh virtual environment; every admin verb run
against `make run`'s stack, and a caller's test suite (docs/clients.md's) run with pytest and
the client's test double. Nothing of the checkout is on that environment's path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.stack_support import Stack, running_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the release's three wheels (and their locked dependencies) only."""
    here = tmp_path_factory.mktemp("release")
    wheels = here / "dist"
    for package in ("layers/common/contract", "client", "layers/common"):
        source = here / "src" / package.replace("/", "-")  # a copy: a build leaves files behind
        ignored = shutil.ignore_patterns("__pycache__", "contract")  # the contract: its own wheel
        shutil.copytree(ROOT / package, source, ignore=ignored)
        subprocess.run(  # the commands of `make dist`
            [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(wheels),
             str(source)],
            check=True, capture_output=True, cwd=here,
        )  # fmt: skip
    environment = here / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    pip = [str(environment / "bin" / "python"), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check"]  # fmt: skip
    # docs/deploying.md's install lines: what the wheels need, locked with hashes (make dist
    # ships requirements/admin.txt as requirements-admin.txt), then the release's own wheels
    # from its files only
    subprocess.run(
        [*pip, "--require-hashes", "-r", str(ROOT / "requirements" / "admin.txt")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*pip, "--no-index", "--find-links", str(wheels), "vcc-token-client[admin]"],
        check=True,
        capture_output=True,
    )
    return environment / "bin" / "vcc-token"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack()


def admin(released: Path, stack: Stack, *argv: str, stdin: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VCC_", "PYTHON"))}
    env.update(stack.exports)
    env["AWS_ENDPOINT_URL"] = stack.exports["LOCAL_AWS_ENDPOINT"]
    done = subprocess.run(
        [str(released), "admin", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT / "local",  # not the checkout's root: nothing of it is importable
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_released_client_runs_every_admin_verb_against_make_run(
    released: Path, stack: Stack
) -> None:
    exports = stack.exports
    rules = str(ROOT / "local" / "entitlements.json")
    assert "valid" in admin(released, stack, "check-rules", rules)
    caller = "arn:aws:sts::111122223333:assumed-role/orders-service/job-1"
    explain = ["explain", caller, "emea", "agents-availability:read", "--rules", rules]
    assert "allowed" in admin(released, stack, *explain).lower()
    assert stack.get("/tokens/nam/users:read", _caller(stack)).status_code == 200
    assert "nam#users:read" in admin(released, stack, "status", "--table", exports["LOCAL_TABLE"])
    smoke = ["smoke", "--api", exports["VCC_TOKEN_SERVICE_URL"], "--region", "nam"]
    smoke += ["--scope", "users:read", "--stack", exports["LOCAL_STACK"]]
    assert admin(released, stack, *smoke).rstrip().endswith("smoke check passed")
    reissued = requests.post(
        exports["VCC_EMULATOR_URL"] + "/_emulator/reissue",
        json={"client_id": "demo-nam", "previous_for": 300},
        timeout=10,
    ).json()["client_secret"]
    rotate = ["rotate", "--region", "nam", "--function", exports["LOCAL_REFRESHER"]]
    rotate += ["--secret-prefix", exports["LOCAL_SECRET_PREFIX"], "--scope", "users:read"]
    assert "nam/default: rotated" in admin(released, stack, *rotate, stdin=reissued)
    purge = ["purge", "--table", exports["LOCAL_TABLE"], "--region", "nam", "--yes"]
    assert "removed:" in admin(released, stack, *purge)
    dead = ["dead-letters", "--queue-url", exports["LOCAL_DEAD_LETTERS"], "list"]
    assert "0 dead letters listed, of about 0 in the queue" in admin(released, stack, *dead)


# pytest and what it needs, as requirements/dev.txt locks them (hashes checked)
PYTEST = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")


def test_a_callers_suite_runs_on_the_released_client_and_its_test_double(
    released: Path, tmp_path: Path
) -> None:
    python = released.parent / "python"
    locked = _locked(ROOT / "requirements" / "dev.txt", PYTEST)
    (tmp_path / "pytest-requirements.txt").write_text(locked)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--require-hashes", "--no-deps", "-r", str(tmp_path / "pytest-requirements.txt")],
        check=True, capture_output=True,
    )  # fmt: skip
    docs = (ROOT / "docs" / "clients.md").read_text(encoding="utf-8")
    example = docs.split("<!-- example: a caller's test suite")[1].split("```python\n", 1)[1]
    (tmp_path / "test_availability.py").write_text(example.split("```", 1)[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VCC_", "PYTHON"))}
    done = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_availability.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def _locked(lock: Path, names: tuple[str, ...]) -> str:
    """The blocks of a hashed lock file that pin these packages."""
    blocks = lock.read_text(encoding="utf-8").split("\n")
    kept, keep = [], False
    for line in blocks:
        if line and not line.startswith((" ", "#")):
            keep = line.split("==")[0].lower() in names
        if keep and not line.lstrip().startswith("#"):
            kept.append(line)
    return "\n".join(kept) + "\n"


def _caller(stack: Stack) -> dict[str, str]:
    callers = json.loads((ROOT / "local" / "callers.json").read_text())
    return next(c for c in callers if c["access_key_id"] == stack.exports["AWS_ACCESS_KEY_ID"])
