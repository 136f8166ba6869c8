"""`LOCAL_DEPLOYMENTS=2 make run`: a second deployment of the service beside the first, as an
organization runs one stack per AWS region, so failover, signing per region and the ledger
across deployments can be rehearsed on one machine.

The second is `make run` again in a child process: its own AWS region (us-east-1), its own AWS
(a moto server of its own: table, secrets, entitlements, key, logs, dead-letter queue), its own
API front and refresher, and the same VCC (the first's emulator, as a configured upstream). The
stack's name is the same in both regions, as `sam deploy` would make it. When both are ready,
`make run` writes their description (vcc_token_client.deployments) and prints it with an
`export VCC_TOKEN_DEPLOYMENTS=...` line: `vcc-token token` then fails over between them, and the
admin verbs ask both.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess  # nosec B404: runs make run's own module again, fixed arguments
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.stack import LOCAL_REGION, LOCAL_STACK_NAME, ROOT

SECOND_REGION = "us-east-1"
READY_WITHIN = 120.0  # seconds the second deployment may take to start


class DeploymentsError(Exception):
    """LOCAL_DEPLOYMENTS or the second deployment's start failed: one line, exit 2."""


def wanted() -> int:
    raw = os.environ.get("LOCAL_DEPLOYMENTS", "1")
    if raw not in ("1", "2"):
        raise DeploymentsError(f"LOCAL_DEPLOYMENTS must be 1 or 2, got {raw[:20]!r}")
    return int(raw)


@dataclass
class SecondDeployment:
    process: subprocess.Popen[str]
    exports: dict[str, str]

    @classmethod
    def start(cls, port: int, moto_port: int, upstream: dict[str, str]) -> SecondDeployment:
        """`make run` in a child process, in SECOND_REGION, using `upstream` (the first's VCC:
        VCC_TOKEN_URL_TEMPLATE, VCC_CLIENT_ID, VCC_CLIENT_SECRET); ready when it says so."""
        env = {
            **os.environ,
            **upstream,
            "PORT": str(port),
            "MOTO_PORT": str(moto_port),
            "LOCAL_AWS_REGION": SECOND_REGION,
            "LOCAL_DEPLOYMENTS": "1",
            "LOCAL_PARENT_PID": str(os.getpid()),  # it stops when this process is gone
        }
        process = subprocess.Popen(  # nosec B603: this interpreter, fixed arguments
            [sys.executable, "-m", "local.run"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        exports = _read_until_ready(process)
        threading.Thread(target=_relay, args=(process,), daemon=True).start()
        return cls(process, exports)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def stop_with_parent(stop: Callable[[], None]) -> None:
    """In a second deployment: `stop` once the first's process is gone (killed, even with
    SIGKILL, which leaves no chance to stop its children), checked every second."""
    parent = os.environ.get("LOCAL_PARENT_PID")
    if not parent or not parent.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(1)
        stop()

    threading.Thread(target=watch, daemon=True).start()


def _read_until_ready(process: subprocess.Popen[str]) -> dict[str, str]:
    if process.stdout is None:  # Popen was given stdout=PIPE
        raise DeploymentsError("the second deployment's output cannot be read")
    deadline = time.monotonic() + READY_WITHIN
    exports: dict[str, str] = {}
    for line in process.stdout:
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value
        if "ready at" in line:
            return exports
        if "cannot start" in line or time.monotonic() > deadline:
            break
    process.kill()
    raise DeploymentsError(f"the second deployment did not start: {line.strip()[:200]}")


def _relay(process: subprocess.Popen[str]) -> None:
    """The second deployment's log lines, marked, on make run's output."""
    for line in process.stdout or ():
        print(f"[{SECOND_REGION}] {line}", end="", flush=True)


def description(first: dict[str, str], second: dict[str, str]) -> dict[str, Any]:
    """The two deployments, from each one's exported lines, in failover order."""
    return {
        "deployments": [
            _entry("local", LOCAL_REGION, first),
            _entry("local-2", SECOND_REGION, second),
        ]
    }


def _entry(name: str, region: str, exports: dict[str, str]) -> dict[str, str]:
    return {
        "name": name,
        "url": exports["VCC_TOKEN_SERVICE_URL"],
        "region": region,
        "stack": LOCAL_STACK_NAME,
        "table": exports["LOCAL_TABLE"],
        "aws_endpoint": exports["LOCAL_AWS_ENDPOINT"],
    }


def write_description(document: dict[str, Any], port: int) -> Path:
    """The description in build/ (one file per first port: stacks side by side keep theirs)."""
    path = ROOT / "build" / f"local-deployments-{port}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
