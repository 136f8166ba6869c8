"""One contract, two tables: the unit tests' MemoryTokenTable (tests/fakes.py) and the service's
DynamoDBTokenTable on moto's server behave alike for every conditional write the engine relies
on, so the fake cannot drift from DynamoDB's semantics."""

from __future__ import annotations

import time

import pytest

from tests.conftest import Service
from tests.fakes import MemoryTokenTable
from vcc_tokens.aws.table import TokenTable
from vcc_tokens.values.backoff import Failure
from vcc_tokens.values.tokens import NOTHING_CACHED, CachedToken, Key, Lease

pytestmark = pytest.mark.integration

KEY = Key("emea", "users:read")
NOW = int(time.time())  # tokens' times are whole epoch seconds


@pytest.fixture(params=["memory", "dynamodb"])
def table(request: pytest.FixtureRequest) -> TokenTable:
    if request.param == "memory":
        return MemoryTokenTable()
    service: Service = request.getfixturevalue("service")
    return service.table


def token(name: str, expires_in: int, key: Key = KEY) -> CachedToken:
    fetched = NOW - 10
    return CachedToken(
        key.region, key.scope, name, "Bearer", fetched, NOW + expires_in, key.credential
    )


def lease(owner: str, seconds: int = 9) -> Lease:
    return Lease(KEY, owner * 16, NOW + seconds)  # 32 hex digits, as the engine's owners


def test_an_unknown_key_has_no_entry(table: TokenTable) -> None:
    assert table.get(KEY, consistent=True) is None


def test_one_lease_at_a_time_until_it_expires(table: TokenTable) -> None:
    assert table.acquire_lease(lease("aa"), NOW)
    assert not table.acquire_lease(lease("bb"), NOW)  # held
    assert table.acquire_lease(lease("bb"), NOW + 10)  # expired: taken over
    entry = table.get(KEY, consistent=True)
    assert entry is not None
    assert entry.leased_to("bb" * 16)


def test_only_the_owner_releases_and_a_failure_blocks_until_its_time(table: TokenTable) -> None:
    assert table.acquire_lease(lease("aa"), NOW)
    table.release_lease(lease("bb"))  # not its lease: nothing happens
    assert not table.acquire_lease(lease("cc"), NOW)
    failure = Failure("upstream_unavailable", "VCC failed", NOW + 30, 1)
    table.release_lease(lease("aa"), failure)
    assert not table.acquire_lease(lease("cc"), NOW + 1)  # the failure forbids fetching
    assert table.acquire_lease(lease("cc"), NOW + 31)


def test_storing_gives_the_lease_back_in_the_same_write_only_while_it_is_held(
    table: TokenTable,
) -> None:
    assert table.acquire_lease(lease("aa"), NOW)
    assert not table.put(token("stale owner", 600), releasing=lease("bb"))  # not its lease
    assert table.get(KEY, consistent=True).token is None  # type: ignore[union-attr]
    assert table.put(token("fetched", 600), releasing=lease("aa"))
    entry = table.get(KEY, consistent=True)
    assert entry is not None
    assert entry.token is not None
    assert (entry.token.access_token, entry.lease) == ("fetched", None)
    assert table.acquire_lease(lease("cc"), NOW)  # free at once, not when it would expire
    assert not table.put(token("older", 300), releasing=lease("cc"))  # a later one is cached
    held = table.get(KEY, consistent=True)
    assert held is not None
    assert held.leased_to("cc" * 16)  # refused: the lease is still held


def test_a_handed_lease_is_claimed_once(table: TokenTable) -> None:
    assert table.acquire_lease(lease("aa"), NOW)
    assert table.claim_lease(lease("aa"), lease("bb"), NOW)
    assert not table.claim_lease(lease("aa"), lease("cc"), NOW)  # the second delivery
    assert not table.claim_lease(lease("bb"), lease("dd"), NOW + 10)  # expired meanwhile


def test_a_stored_token_is_replaced_only_by_one_that_expires_later(table: TokenTable) -> None:
    assert table.put(token("first", 600))
    assert not table.put(token("older", 300))
    assert table.put(token("newer", 900))
    entry = table.get(KEY, consistent=True)
    assert entry is not None
    assert entry.token is not None
    assert (entry.token.access_token, entry.stored_sha256) == ("newer", entry.token.sha256)


def test_a_refresh_replaces_only_the_token_it_names(table: TokenTable) -> None:
    assert table.put(token("rejected", 600), replacing=NOTHING_CACHED)
    current = table.get(KEY, consistent=True)
    assert current is not None
    assert current.token is not None
    assert not table.put(token("late", 300), replacing="0" * 64)  # another token was named
    assert table.put(token("refreshed", 300), replacing=current.token.sha256)  # even shorter
    entry = table.get(KEY, consistent=True)
    assert entry is not None
    assert entry.token is not None
    assert entry.token.access_token == "refreshed"
    assert entry.refreshed_at == pytest.approx(NOW - 10)


def test_storing_forgets_the_failure(table: TokenTable) -> None:
    assert table.acquire_lease(lease("aa"), NOW)
    table.release_lease(lease("aa"), Failure("upstream_timeout", "slow", NOW + 60, 2))
    assert table.put(token("fetched", 600))
    entry = table.get(KEY, consistent=True)
    assert entry is not None
    assert entry.failure is None
    assert table.acquire_lease(lease("bb"), NOW)


def test_touch_records_interest_only_in_a_cached_key(table: TokenTable) -> None:
    table.touch(KEY, NOW)
    assert table.get(KEY, consistent=True) is None  # nothing to keep warm: no item made
    assert table.put(token("t", 600), requested_at=NOW - 100)
    table.touch(KEY, NOW)
    entry = table.get(KEY, consistent=True)
    assert entry is not None
    assert entry.last_requested_at == pytest.approx(NOW)


def test_entries_are_every_cached_key(table: TokenTable) -> None:
    other = Key("nam", "stats", "admin")
    assert table.put(token("a", 600))
    assert table.put(token("b", 600, other))
    assert {entry.key for entry in table.entries()} == {KEY, other}
