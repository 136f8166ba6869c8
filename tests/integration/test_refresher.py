"""The scheduled refresher function, invoked with events/scheduled_refresh.json."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local.lambda_runtime import LambdaContext, load_function
from local.vcc_emulator import VccEmulator
from tests.conftest import Service
from tests.support import load_event
from vcc_tokens.tokens import CachedToken, Key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def refresher() -> Any:
    return load_function("refresher").lambda_handler


def cache_token(service: Service, scope: str, seconds_left: int, asked_ago: float) -> None:
    cache = service.cache
    now = int(time.time())
    cache.store(
        CachedToken(
            "apac", scope, f"old-{scope}", "Bearer", now + seconds_left - 900, now + seconds_left
        )
    )
    cache.touch(Key("apac", scope), time.time() - asked_ago)


def test_due_keys_are_renewed_and_idle_ones_left(
    service: Service, emulator: VccEmulator, refresher: Any
) -> None:
    cache_token(service, "stats", seconds_left=300, asked_ago=30)  # due
    cache_token(service, "users:read", seconds_left=850, asked_ago=30)  # not due
    cache_token(service, "admin:read", seconds_left=300, asked_ago=7200)  # idle
    summary = refresher(load_event("scheduled_refresh.json"), LambdaContext("schedule"))
    assert summary == {"renewed": 1, "fresh": 1, "idle": 1, "unreadable": 0, "failed": []}
    assert emulator.token_requests == 1
    token = service.cached_token("apac", "stats")
    assert token is not None
    assert token.access_token in emulator.issued


def test_a_failed_renewal_fails_the_run_so_the_schedule_retries(
    service: Service, emulator: VccEmulator, refresher: Any
) -> None:
    cache_token(service, "stats", seconds_left=300, asked_ago=30)
    emulator.fail_next("server_error", count=3)  # every attempt
    with pytest.raises(
        Exception, match="1 renewals failed: apac stats: upstream_unavailable"
    ) as caught:
        refresher(load_event("scheduled_refresh.json"), LambdaContext("schedule"))
    assert type(caught.value).__name__ == "RenewalsFailed"
    assert service.cached_token("apac", "stats").access_token == "old-stats"  # type: ignore[union-attr]
