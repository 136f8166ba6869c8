"""Starting `make run`'s stack as a subprocess on free ports, for tests that call it over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.signing import signed_headers

ROOT = Path(__file__).resolve().parents[1]
CALLERS = json.loads((ROOT / "local" / "callers.json").read_text())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on the port again, as `make run` would on a restart:
    SO_REUSEADDR, like every server, so connections still in TIME_WAIT (which a busy machine
    keeps for a while after the stack closed them) do not count as the port being held."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start_stack(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "local.run"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@dataclass
class Stack:
    process: subprocess.Popen[str]
    url: str
    ports: list[int]
    emulator_url: str
    aws_endpoint: str  # the stack's moto server
    exports: dict[str, str]  # what it printed to paste into another shell

    def get(
        self, path: str, caller: dict[str, str] | None = None, **kwargs: object
    ) -> requests.Response:
        headers = {}
        if caller:
            headers = signed_headers(
                "GET", self.url + path, caller["access_key_id"], caller["secret_access_key"]
            )
        return requests.get(self.url + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def running_stack(env: dict[str, str] | None = None) -> Iterator[Stack]:
    """A stack on free ports (and `env`), ready; killed afterwards if a test has not stopped it."""
    ports = {"PORT": free_port(), "MOTO_PORT": free_port(), "VCC_EMULATOR_PORT": free_port()}
    process = start_stack({**{name: str(port) for name, port in ports.items()}, **(env or {})})
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    line, exports = "", {}
    while time.monotonic() < deadline and "ready at" not in line:
        line = process.stdout.readline()
        assert line or process.poll() is None, "the stack exited before it was ready"
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value
    assert "ready at" in line, "the stack did not say it was ready within 60 s"
    # Keep reading its output: a full pipe would block the stack's next log line.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    try:
        yield Stack(
            process,
            f"http://127.0.0.1:{ports['PORT']}",
            list(ports.values()),
            f"http://127.0.0.1:{ports['VCC_EMULATOR_PORT']}",
            f"http://127.0.0.1:{ports['MOTO_PORT']}",
            exports,
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# A stack of a test's own (`with own_stack(env) as stack:`), stopped when the test ends.
own_stack = contextmanager(running_stack)
