"""`make invoke`: every file of events/ through its function, the way a person types it (a fresh
`python -m local.invoke FUNCTION EVENT` process, as the Makefile runs it), against `make run`'s
resources; each event with the answer it must get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.lambda_runtime import LOCAL_REFRESHER
from tests.stack_support import Stack, running_stack
from vcc_token_contract.ledger import SERVED

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Every event file, its function and what its answer must say
EXPECTED: dict[str, tuple[str, dict[str, Any]]] = {
    "get_token_emea_agents_availability.json": ("VendFunction", {"statusCode": 200}),
    "refresh_token_emea_agents_availability.json": ("VendFunction", {"statusCode": 200}),
    "oauth2_token_emea_agents_availability.json": ("VendFunction", {"statusCode": 200}),
    "get_token_bad_region.json": ("VendFunction", {"statusCode": 400}),
    "get_token_unentitled_caller.json": ("VendFunction", {"statusCode": 403}),
    "scheduled_renewal.json": ("RefreshFunction", {"failed": []}),
    "rotate_credential_emea_default.json": ("RefreshFunction", {"rotated": False}),
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack()


def make_invoke(stack: Stack, *argv: str) -> subprocess.CompletedProcess[str]:
    """What `make invoke FUNCTION=... EVENT=...` runs, with the stack's exported lines set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VCC_"))}
    env.update(stack.exports, PYTHONPATH=str(ROOT / "layers" / "common"))
    return subprocess.run(
        [sys.executable, "-m", "local.invoke", *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_every_event_file_has_an_expected_answer() -> None:
    assert sorted(EXPECTED) == sorted(path.name for path in (ROOT / "events").glob("*.json"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_event_gets_its_answer_through_make_invoke(stack: Stack, name: str) -> None:
    function, expected = EXPECTED[name]
    done = make_invoke(stack, function, f"events/{name}")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert {key: answer.get(key) for key in expected} == expected, answer
    assert "Traceback" not in done.stderr
    if function == "VendFunction":  # the function's request line, on stderr
        [line] = [line for line in log_lines(done.stderr) if line.get("message") == SERVED]
        assert line["status"] == expected["statusCode"]
    lines = [line for line in log_lines(done.stderr) if "message" in line]
    if function == "VendFunction":  # its lines carry the request's id, not the function's name
        assert len({line.get("function_request_id") for line in lines}) == 1, lines
        assert not any("function_name" in line for line in lines), lines
    else:
        assert {line.get("function_name") for line in lines} == {LOCAL_REFRESHER}


def test_a_token_through_make_invoke_is_the_stacks_own(stack: Stack) -> None:
    """The invocation used make run's table: the token it served is the one the stack serves."""
    done = make_invoke(stack, "VendFunction", "events/get_token_emea_agents_availability.json")
    again = make_invoke(stack, "VendFunction", "events/get_token_emea_agents_availability.json")
    first, second = (json.loads(json.loads(d.stdout)["body"]) for d in (done, again))
    assert first["access_token"] == second["access_token"]  # the second found it in DynamoDB
    [served] = [line for line in log_lines(again.stderr) if line.get("message") == SERVED]
    assert served["source"] == "dynamodb"


def log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["NoSuchFunction", "events/scheduled_renewal.json"], "no function 'NoSuchFunction'"),
        (["VendFunction", "events/missing.json"], "events/missing.json"),
        (["VendFunction"], "usage: make invoke"),
    ],
)
def test_a_bad_function_or_event_is_one_line_and_exit_2(
    stack: Stack, argv: list[str], says: str
) -> None:
    done = make_invoke(stack, *argv)
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
