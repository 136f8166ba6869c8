"""`LOCAL_DEPLOYMENTS=2 make run`: two deployments of the service (eu-west-1 and us-east-1, one
stack name, one VCC), described in one file that the CLI's token and admin verbs read alike:
failover between them, and incident response across both."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vcc_token_client.cli import main as vcc_token
from vcc_token_client.deployments import load_deployments
from vcc_token_client.errors import Exit

from tests.stack_support import CALLERS, Stack, free_port, running_stack

pytestmark = pytest.mark.integration

ORDERS = CALLERS[0]


@pytest.fixture(scope="module")
def two() -> Iterator[Stack]:
    env = {
        "LOCAL_DEPLOYMENTS": "2",
        "SECOND_PORT": str(free_port()),
        "SECOND_MOTO_PORT": str(free_port()),
    }
    yield from running_stack(env)


@pytest.fixture
def operator(two: Stack, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """An operator's shell with the stack's exported lines (the description among them)."""
    for name, value in two.exports.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # each deployment names its own
    description: dict[str, Any] = json.loads(Path(two.exports["VCC_TOKEN_DEPLOYMENTS"]).read_text())
    return description


def changed(description: dict[str, Any], tmp_path: Path, number: int, **values: str) -> Path:
    """A copy of the description, deployment `number` given other `values`, in a file."""
    copy = json.loads(json.dumps(description))
    copy["deployments"][number].update(values)
    path = tmp_path / f"deployments-{number}.json"
    path.write_text(json.dumps(copy))
    return path


def test_make_run_describes_both_deployments(two: Stack, operator: dict[str, Any]) -> None:
    first, second = load_deployments(two.exports["VCC_TOKEN_DEPLOYMENTS"])
    assert (first.url, first.region) == (two.url, "eu-west-1")
    assert second.region == "us-east-1"
    assert first.stack == second.stack
    assert first.aws_endpoint != second.aws_endpoint


def test_who_had_asks_every_deployment_and_finds_a_token_the_second_served_after_a_failover(
    two: Stack,
    operator: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given the first region's API down (its logs still readable), a job fails over to the second
    failover = changed(operator, tmp_path, 0, url=f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("VCC_TOKEN_SERVICE_URL")  # --url (or its variable) would win
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ORDERS["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ORDERS["secret_access_key"])
    code = vcc_token(["--deployments", str(failover), "token", "nam", "users:read"])
    token = capsys.readouterr().out.strip()
    assert code == Exit.OK
    digest = hashlib.sha256(token.encode()).hexdigest()
    # When an incident responder asks who had it, of every deployment
    assert vcc_token(["admin", "who-had", digest]) == Exit.OK
    said = capsys.readouterr().out
    # Then each deployment has its section: the first never served it, the second did
    first, second = said.split("== local-2: ")
    assert first.startswith("== local: stack vcc-token-vending-local in eu-west-1 ==")
    assert "this service never served it" in first
    assert f"{ORDERS['principal_arn']}  1 x" in second
    # and served-to finds it too, by the caller
    assert vcc_token(["admin", "served-to", ORDERS["principal_arn"]]) == Exit.OK
    assert f"{digest}  nam/users:read (default)  1 x" in capsys.readouterr().out
    assert token not in said


def test_a_deployment_that_cannot_be_read_is_named_and_the_answer_is_incomplete(
    two: Stack,
    operator: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = changed(operator, tmp_path, 1, aws_endpoint=f"http://127.0.0.1:{free_port()}")
    never = hashlib.sha256(b"never one of ours").hexdigest()
    assert vcc_token(["admin", "who-had", never, "--deployments", str(path)]) == Exit.INCOMPLETE
    said = capsys.readouterr().out
    assert "this service never served it" in said.split("== local-2")[0]
    assert "could not be read: cannot read the log group" in said.split("== local-2")[1]
    # and status says the same of each deployment
    assert vcc_token(["admin", "status", "--deployments", str(path)]) == Exit.UNREACHABLE
    said = capsys.readouterr().out
    assert said.startswith("== local: stack vcc-token-vending-local in eu-west-1 ==")
    assert "could not be read" in said.split("== local-2")[1]


def test_the_second_deployment_stops_when_the_first_is_killed() -> None:
    import socket
    import time

    second_port = free_port()
    env = {
        "LOCAL_DEPLOYMENTS": "2",
        "SECOND_PORT": str(second_port),
        "SECOND_MOTO_PORT": str(free_port()),
    }
    stacks = running_stack(env)
    stack = next(stacks)
    with socket.create_connection(("127.0.0.1", second_port), timeout=5):
        pass  # the second deployment answers
    stack.process.kill()  # SIGKILL: the first gets no chance to stop its child
    stack.process.wait(timeout=10)
    deadline = time.monotonic() + 30  # it checks its parent every second
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", second_port), timeout=1).close()
        except OSError:
            break  # gone
        time.sleep(0.2)
    else:
        raise AssertionError("the second deployment outlived the first by 30 s")
    next(stacks, None)
