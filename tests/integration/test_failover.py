"""Callers that fail over between deployments: two `make run` stacks as two regions' stacks, the
first killed mid-run and later started again. Every caller keeps getting tokens, with at most
one failed attempt per caller per failover, and comes back to the first once it answers."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
import requests
from vcc_token_client import TokenClient
from vcc_token_client.errors import BadRequest

from tests.stack_support import CALLERS, Stack, running_stack, start_stack

pytestmark = pytest.mark.integration

UNHEALTHY_SECONDS = 1.0  # the client's pause for a failed deployment (30 s by default)


class CountingSession(requests.Session):
    """Which deployment each attempt went to, and whether it got an answer."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[tuple[str, bool]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        base = url.split("/tokens/", 1)[0]
        try:
            response = super().request(method, url, *args, **kwargs)
        except requests.RequestException:
            self.attempts.append((base, False))
            raise
        self.attempts.append((base, True))
        return response


def signing_session() -> botocore.session.Session:
    session = botocore.session.get_session()
    caller = CALLERS[0]  # orders-service: emea users:read (local/entitlements.json)
    session.set_credentials(caller["access_key_id"], caller["secret_access_key"])
    session.set_config_variable("region", "eu-west-1")
    return session


@pytest.fixture
def two_regions() -> Iterator[tuple[Stack, Stack]]:
    first, second = running_stack(), running_stack()
    yield next(first), next(second)
    for stack in (first, second):
        next(stack, None)  # past its yield: killed if still running


def callers(urls: list[str], count: int = 3) -> list[tuple[TokenClient, CountingSession]]:
    made = []
    for _ in range(count):
        http = CountingSession()
        client = TokenClient(
            urls,
            botocore_session=signing_session(),
            http=http,
            refresh_interval=0,  # every refresh() below is a call to a deployment
            unhealthy_seconds=UNHEALTHY_SECONDS,
        )
        made.append((client, http))
    return made


def ask_everyone(clients: list[tuple[TokenClient, CountingSession]]) -> None:
    for client, _ in clients:
        assert client.refresh("emea", "users:read").access_token


def test_callers_fail_over_to_the_next_deployment_and_come_back(
    two_regions: tuple[Stack, Stack],
) -> None:
    first, second = two_regions
    clients = callers([first.url, second.url])
    # Given both deployments up: the first answers everyone
    ask_everyone(clients)
    assert {attempt for _, http in clients for attempt in http.attempts} == {(first.url, True)}
    # When the first one dies mid-run
    first.process.kill()
    first.process.wait(timeout=10)
    for _, http in clients:
        http.attempts.clear()
    for _ in range(5):
        ask_everyone(clients)
    # Then every caller kept getting tokens, each with one failed attempt (its first call)
    for _, http in clients:
        assert Counter(http.attempts) == {(first.url, False): 1, (second.url, True): 5}
    # And once the first is back and its pause is over, callers come back to it
    restarted = start_stack(
        {"PORT": str(first.ports[0]), "MOTO_PORT": "0", "VCC_EMULATOR_PORT": "0"}
    )
    try:
        assert restarted.stdout is not None
        while "ready at" not in (line := restarted.stdout.readline()):
            assert line, "the first stack did not start again"
        time.sleep(UNHEALTHY_SECONDS * 1.2)  # the client's longest pause (its jitter: +-20%)
        for _, http in clients:
            http.attempts.clear()
        ask_everyone(clients)
        assert {a for _, http in clients for a in http.attempts} == {(first.url, True)}
    finally:
        restarted.kill()
        restarted.wait(timeout=10)


def test_a_4xx_never_fails_over(two_regions: tuple[Stack, Stack]) -> None:
    first, second = two_regions
    ((client, http),) = callers([first.url, second.url], count=1)
    with pytest.raises(BadRequest):
        client.token("mars", "users:read")  # the same answer anywhere: not worth asking twice
    assert http.attempts == [(first.url, True)]
