"""The scheduled refresher function, invoked with events/scheduled_renewal.json."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local.lambda_runtime import LambdaContext, load_function
from local.vcc_emulator import VccEmulator
from tests.conftest import Service, create_table_from_template
from tests.support import load_event
from vcc_tokens.values.errors import VendError
from vcc_tokens.values.tokens import CachedToken, Key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def refresher() -> Any:
    return load_function("refresher").lambda_handler


def cache_token(service: Service, scope: str, seconds_left: int, asked_ago: float) -> None:
    cache = service.table
    now = int(time.time())
    cache.put(
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
    summary = refresher(load_event("scheduled_renewal.json"), LambdaContext("schedule"))
    assert summary == {
        "renewed": 1,
        "fresh": 1,
        "idle": 1,
        "unreadable": 0,
        "orphaned": 0,
        "failed": [],
    }
    assert emulator.token_requests == 1
    token = service.cached_token("apac", "stats")
    assert token is not None
    assert token.access_token in emulator.issued


def test_a_failed_renewal_is_listed_with_its_reason_and_the_run_goes_on(
    service: Service, emulator: VccEmulator, refresher: Any
) -> None:
    # Given two due keys, and VCC failing every attempt at the first one fetched
    cache_token(service, "stats", seconds_left=300, asked_ago=30)
    cache_token(service, "users:read", seconds_left=300, asked_ago=30)
    emulator.fail_next("server_error", count=3)  # every attempt of one key
    # When the scheduled run renews them
    summary = refresher(load_event("scheduled_renewal.json"), LambdaContext("schedule"))
    # Then one key failed, named with its reason, the other was renewed, and the run did not
    # fail (Lambda's retries and the dead-letter queue are for runs that fail as a whole)
    assert summary["renewed"] == 1
    (failed,) = summary["failed"]
    assert failed.startswith("apac ")
    assert " (default): upstream_unavailable: " in failed
    old = [service.cached_token("apac", s).access_token for s in ("stats", "users:read")]  # type: ignore[union-attr]
    assert sorted(token.startswith("old-") for token in old) == [False, True]


def test_a_run_that_cannot_read_the_table_fails_as_a_whole(
    service: Service, refresher: Any
) -> None:
    # Given the table gone (something outside one key)
    service.dynamodb.delete_table(TableName=service.table_name)
    service.dynamodb.get_waiter("table_not_exists").wait(TableName=service.table_name)
    # Then the run fails, for Lambda's retries and then the dead-letter queue
    with pytest.raises(VendError) as caught:
        refresher(load_event("scheduled_renewal.json"), LambdaContext("schedule"))
    assert caught.value.code in {"dependency_error", "dependency_unavailable"}
    create_table_from_template(service.dynamodb, service.table_name)  # for the clean-up
