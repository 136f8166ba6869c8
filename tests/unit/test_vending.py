"""The vending rules, with in-memory fakes for the table, the secrets and VCC, and a fake clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes import (
    CountingEndpoint,
    FakeClock,
    FixedCredentials,
    MemoryTokenTable,
    RecordingRenewer,
)
from vcc_token_contract.names import DEFAULT_CREDENTIAL
from vcc_tokens.aws.clients import deadline_in
from vcc_tokens.aws.handover import Renewer
from vcc_tokens.values.backoff import Failure
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import (
    DependencyUnavailable,
    UpstreamError,
    UpstreamRejectedCredentials,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from vcc_tokens.values.token_request import TokenRequest
from vcc_tokens.values.tokens import CachedToken, CacheEntry, Key, Lease, token_sha256
from vcc_tokens.vcc.token_answer import IssuedToken
from vcc_tokens.vending import (
    CacheOutcome,
    MemoryCache,
    Source,
    TokenVendor,
)
from vcc_tokens.vending.cache import TokenCache
from vcc_tokens.vending.single_flight import POLL_CAP

# One fake clock for every instance here, so no skew between them (tests of skew set it)
SETTINGS = Settings(
    table_name="t",
    secret_prefix="p/",
    kms_key_id="alias/k",
    entitlements_parameter="/e",
    clock_skew_seconds=0,
)
STATS = TokenRequest("emea", "stats", 60)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def upstream() -> CountingEndpoint:
    return CountingEndpoint()


@pytest.fixture
def table() -> MemoryTokenTable:
    return MemoryTokenTable()


def vendor_for(
    table: MemoryTokenTable,
    upstream: CountingEndpoint,
    clock: FakeClock,
    *,
    sleep: Callable[[float], None] | None = None,
    renewer: Renewer | None = None,
    **settings: object,
) -> TokenVendor:
    """A vendor on the fakes; `sleep`: what a waiter's pause does (by default, the clock
    moves on)."""
    configured = dataclasses.replace(SETTINGS, **settings)  # type: ignore[arg-type]
    return TokenVendor(
        settings=configured,
        table=table,
        credentials=FixedCredentials(),
        upstream=upstream,
        memory=MemoryCache(configured.memory_cache_seconds),
        renewer=renewer,
        clock=clock,
        sleep=sleep or clock.sleep,
    )


@pytest.fixture
def vendor(table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock) -> TokenVendor:
    return vendor_for(table, upstream, clock)


def cache_token(
    table: MemoryTokenTable, clock: FakeClock, left: int, lifetime: int = 900
) -> CachedToken:
    expires_at = int(clock.now) + left
    token = CachedToken("emea", "stats", "old", "Bearer", expires_at - lifetime, expires_at)
    table.items[Key("emea", "stats")] = CacheEntry("emea", "stats", token)
    return token


def test_a_miss_fetches_and_stores_with_expiry_from_expires_in(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    upstream.expires_in = 3600
    result = vendor.vend(STATS)
    assert (result.outcome, result.source) == (CacheOutcome.MISS, Source.UPSTREAM)
    assert upstream.calls == [("emea", "stats")]
    now = int(clock.now)
    assert table.items[Key("emea", "stats")].token == CachedToken(
        "emea", "stats", "token-1", "Bearer", now, now + 3600
    )
    assert table.items[Key("emea", "stats")].last_requested_at == clock.now
    assert table.items[Key("emea", "stats")].lease is None  # released


@pytest.mark.parametrize(
    ("left", "min_ttl", "outcome"),
    [
        (600, 60, CacheOutcome.HIT),
        (600, 600, CacheOutcome.HIT),
        (400, 400, CacheOutcome.HIT),  # exactly min_ttl left
        (450, 900, CacheOutcome.HIT),  # exactly half the lifetime left, min_ttl past it
        (400, 401, CacheOutcome.BELOW_MIN_TTL),
        (600, 900, CacheOutcome.HIT),  # min_ttl is capped at half the 900 s lifetime
        (449, 900, CacheOutcome.BELOW_MIN_TTL),
        (0, 0, CacheOutcome.EXPIRED),
        (-3600, 0, CacheOutcome.EXPIRED),
    ],
)
def test_a_cached_token_is_served_only_with_min_ttl_left_and_never_expired(
    table: MemoryTokenTable,
    upstream: CountingEndpoint,
    clock: FakeClock,
    left: int,
    min_ttl: int,
    outcome: CacheOutcome,
) -> None:
    cache_token(table, clock, left)
    result = vendor_for(table, upstream, clock, max_min_ttl=900).vend(
        TokenRequest("emea", "stats", min_ttl)
    )
    assert result.outcome is outcome
    assert (result.token.access_token == "old") == (outcome is CacheOutcome.HIT)
    assert len(upstream.calls) == (0 if outcome is CacheOutcome.HIT else 1)


def test_memory_serves_within_its_staleness_bound_then_dynamodb_again(
    vendor: TokenVendor, table: MemoryTokenTable, clock: FakeClock
) -> None:
    cache_token(table, clock, 600)
    assert vendor.vend(STATS).source is Source.DYNAMODB
    # Another instance replaces the token in the table
    entry = table.items[Key("emea", "stats")]
    assert entry.token is not None
    newer = dataclasses.replace(
        entry.token, access_token="newer", expires_at=entry.token.expires_at + 60
    )
    table.items[Key("emea", "stats")] = dataclasses.replace(entry, token=newer)
    clock.now += 29
    stale = vendor.vend(STATS)
    assert (stale.source, stale.token.access_token) == (Source.MEMORY, "old")
    clock.now += 1  # 30 s: the bound
    fresh = vendor.vend(STATS)
    assert (fresh.source, fresh.token.access_token) == (Source.DYNAMODB, "newer")


def test_renewal_ahead_serves_the_valid_token_and_renews_it_once(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # 900 s lifetime: margin max(60, 20% of 900) = 180 s; 150 s left is inside it
    cache_token(table, clock, 150)
    renewed = vendor.vend(STATS)
    assert renewed.outcome is CacheOutcome.HIT
    assert renewed.token.access_token == "token-1"  # this caller took the lease and renewed
    assert vendor.vend(STATS).token.access_token == "token-1"
    assert len(upstream.calls) == 1


def test_while_another_instance_renews_the_valid_token_is_served_without_waiting(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    cache_token(table, clock, 150)
    assert table.acquire_lease(Lease(STATS.key, "other-instance", clock.now + 9), clock.now)
    started = clock.now
    result = vendor.vend(STATS)
    assert (result.token.access_token, upstream.calls, clock.now) == ("old", [], started)


def test_a_failed_renewal_fails_nobody_while_the_token_is_valid(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    cache_token(table, clock, 150)
    upstream.failure = UpstreamTimeout("slow")
    result = vendor.vend(STATS)
    assert (result.outcome, result.token.access_token) == (CacheOutcome.HIT, "old")
    assert table.items[Key("emea", "stats")].lease is None


def test_a_waiter_takes_the_holders_token(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    assert table.acquire_lease(Lease(STATS.key, "holder", clock.now + 9), clock.now)
    holder_token = CachedToken(
        "emea", "stats", "holders", "Bearer", int(clock.now), int(clock.now) + 900
    )
    original_sleep = clock.sleep

    def holder_finishes(seconds: float) -> None:
        original_sleep(seconds)
        table.put(holder_token)

    vendor = vendor_for(table, upstream, clock, sleep=holder_finishes)
    result = vendor.vend(STATS)
    assert (result.token.access_token, result.source) == ("holders", Source.LEASE_WAIT)
    assert upstream.calls == []


def test_a_waiter_only_reads_while_the_lease_runs(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a lease held for 9 s by an instance whose fetch takes 3 s
    assert table.acquire_lease(Lease(STATS.key, "holder", clock.now + 9), clock.now)
    started, takes = clock.now, []
    take = table.acquire_lease

    def counted(lease: Lease, now: float) -> bool:
        takes.append(now)
        return take(lease, now)

    def holder_finishes_after_3_s(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now - started >= 3:
            cache_token(table, clock, 900)

    table.acquire_lease = counted  # type: ignore[method-assign]
    vendor = vendor_for(table, upstream, clock, sleep=holder_finishes_after_3_s)
    # When a caller waits for it
    assert vendor.vend(STATS).source is Source.LEASE_WAIT
    # Then it tried the lease once, then only read: a refused conditional write costs a write
    assert len(takes) == 1
    assert upstream.calls == []


def test_a_dead_holders_lease_is_taken_over_once_it_expires(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    lease = SETTINGS.lease_seconds
    assert table.acquire_lease(Lease(STATS.key, "dead", clock.now + lease), clock.now)
    started = clock.now
    result = vendor.vend(STATS)
    assert (result.source, len(upstream.calls)) == (Source.UPSTREAM, 1)
    # polled until the lease expired (the last pause between reads is at most POLL_CAP)
    assert lease <= clock.now - started <= lease + POLL_CAP


def test_a_waiter_gives_up_with_503_when_nothing_arrives(
    table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    vendor = vendor_for(table, upstream, clock)
    # A lease that keeps being renewed by a live but never-finishing holder
    vendor.table.acquire_lease = lambda *args: False  # type: ignore[method-assign]
    with pytest.raises(UpstreamUnavailable, match="being fetched by another instance") as caught:
        vendor.vend(STATS)
    assert caught.value.retry_after == 1


def test_a_token_is_never_replaced_by_one_that_expires_earlier(
    table: MemoryTokenTable, clock: FakeClock
) -> None:
    # Given a fetch of a 600 s token during which another instance stores one for 900 s
    now = int(clock.now)
    later = CachedToken("emea", "stats", "later", "Bearer", now, now + 900)

    @dataclasses.dataclass
    class StoredElsewhereMeanwhile(CountingEndpoint):
        def fetch(self, *args: Any, **kwargs: Any) -> IssuedToken:
            table.put(later)
            return super().fetch(*args, **kwargs)

    upstream = StoredElsewhereMeanwhile(expires_in=600)
    # When a caller's miss fetches and stores its token
    served = vendor_for(table, upstream, clock).vend(STATS)
    # Then the later token is served and kept, and the lease went back
    assert (served.token, len(upstream.calls)) == (later, 1)
    entry = table.items[STATS.key]
    assert (entry.token, entry.lease) == (later, None)


def lagging_cache_with_a_holder(clock: FakeClock) -> tuple[MemoryTokenTable, Lease, CachedToken]:
    """A table whose eventually consistent reads are 1 s behind, a holder's lease on STATS,
    and the token that holder will store."""
    table = MemoryTokenTable(lag=1.0, clock=clock)
    lease = Lease(STATS.key, "holder", clock.now + SETTINGS.lease_seconds)
    assert table.acquire_lease(lease, clock.now)
    now = int(clock.now)
    return table, lease, CachedToken("emea", "stats", "holders", "Bearer", now, now + 900)


def test_a_waiter_reads_consistently_so_it_sees_the_token_at_its_next_read(
    upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given DynamoDB's eventually consistent reads 1 s behind, and a holder that stores its
    # token (giving the lease back in the same write) during the waiter's first pause
    table, lease, holder_token = lagging_cache_with_a_holder(clock)
    pauses: list[float] = []

    def holder_finishes(seconds: float) -> None:
        pauses.append(seconds)
        clock.sleep(seconds)
        if len(pauses) == 1:
            assert table.put(holder_token, releasing=lease)

    # When a caller waits for it
    result = vendor_for(table, upstream, clock, sleep=holder_finishes).vend(STATS)
    # Then its next read found the token (a lagging read would miss it: a second grant)
    assert (result.token, result.source, upstream.calls) == (holder_token, Source.LEASE_WAIT, [])
    assert len(pauses) == 1


def test_a_lease_taken_after_the_previous_holder_stored_its_token_goes_back_unused(
    upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a holder that stored its token and gave its lease back in one write, which an
    # eventually consistent read does not show yet
    table, lease, holder_token = lagging_cache_with_a_holder(clock)
    assert table.put(holder_token, releasing=lease)
    # When a caller finds no token in its eventually consistent read, so takes the free lease
    result = vendor_for(table, upstream, clock).vend(STATS)
    # Then it serves the holder's token, VCC unasked, and the lease it took is given back
    assert (result.token, result.source, upstream.calls) == (holder_token, Source.LEASE_WAIT, [])
    assert table.items[STATS.key].lease is None


def test_refresh_with_the_rejected_hash_replaces_it_once(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    old = cache_token(table, clock, 600)
    first = vendor.refresh(STATS.key, old.sha256)
    second = vendor.refresh(STATS.key, old.sha256)
    assert (first.outcome, first.source, first.token.access_token) == (
        CacheOutcome.REFRESHED,
        Source.UPSTREAM,
        "token-1",
    )
    assert (second.outcome, second.source, second.token.access_token) == (
        CacheOutcome.CURRENT,
        Source.DYNAMODB,
        "token-1",
    )
    assert len(upstream.calls) == 1


def test_refresh_replaces_even_when_the_new_token_expires_earlier(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    old = cache_token(table, clock, 7000, lifetime=7200)  # VCC shortened lifetimes since
    result = vendor.refresh(STATS.key, old.sha256)
    assert result.token.access_token == "token-1"
    assert result.token.expires_at < old.expires_at


def test_refresh_with_another_hash_returns_the_current_token(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    cache_token(table, clock, 300)  # a third of its lifetime left: still valid
    result = vendor.refresh(STATS.key, token_sha256("some-older-token"))
    assert (result.outcome, result.source, result.token.access_token, upstream.calls) == (
        CacheOutcome.CURRENT,
        Source.DYNAMODB,
        "old",
        [],
    )


def test_forced_refresh_happens_at_most_once_per_interval(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    cache_token(table, clock, 600)
    assert vendor.refresh(STATS.key, None).outcome is CacheOutcome.REFRESHED
    clock.now += SETTINGS.forced_refresh_interval - 1
    assert vendor.refresh(STATS.key, None).outcome is CacheOutcome.CURRENT
    clock.now += 1
    assert vendor.refresh(STATS.key, None).outcome is CacheOutcome.REFRESHED
    assert len(upstream.calls) == 2


def test_a_forced_refresh_of_a_token_fetched_within_the_interval_returns_it(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a token another instance fetched 10 s ago (no refresh recorded)
    token = cache_token(table, clock, 890)
    # When a caller forces a refresh
    result = vendor.refresh(STATS.key, None)
    # Then it gets that token: VCC is asked at most once per interval
    assert (result.outcome, result.token, upstream.calls) == (CacheOutcome.CURRENT, token, [])


@pytest.mark.parametrize("left", [None, 0, -60], ids=["never-cached", "expiring", "expired"])
def test_a_refresh_without_a_valid_token_fetches_one(
    vendor: TokenVendor,
    table: MemoryTokenTable,
    upstream: CountingEndpoint,
    clock: FakeClock,
    left: int | None,
) -> None:
    rejected = cache_token(table, clock, left).sha256 if left is not None else None
    result = vendor.refresh(STATS.key, rejected)
    assert (result.outcome, result.source, result.token.access_token) == (
        CacheOutcome.REFRESHED,
        Source.UPSTREAM,
        "token-1",
    )
    assert table.items[STATS.key].token == result.token


def test_a_token_refreshed_within_the_interval_is_not_returned_once_it_expired(
    table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a long refresh interval, and a refreshed token that has expired since
    vendor = vendor_for(table, upstream, clock, forced_refresh_interval=3600)
    refreshed = vendor.refresh(STATS.key, cache_token(table, clock, 600).sha256).token
    clock.now = refreshed.expires_at + 1
    # When a caller reports it rejected
    result = vendor.refresh(STATS.key, refreshed.sha256)
    # Then a new one is fetched: an expired token is never the answer
    assert (result.outcome, result.token.access_token) == (CacheOutcome.REFRESHED, "token-2")


def test_a_refresh_that_finds_another_instances_new_token_returns_it_as_current(
    table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a rejected token, and another instance refreshing it (its lease) that stores a new
    # one during this caller's first pause
    old = cache_token(table, clock, 600)
    lease = Lease(STATS.key, "other", clock.now + SETTINGS.lease_seconds)
    assert table.acquire_lease(lease, clock.now)
    now = int(clock.now)
    theirs = CachedToken("emea", "stats", "theirs", "Bearer", now, now + 900)

    def they_finish(seconds: float) -> None:
        clock.sleep(seconds)
        table.put(theirs, replacing=old.sha256, releasing=lease)

    # When this caller asks for a refresh of the same token
    result = vendor_for(table, upstream, clock, sleep=they_finish).refresh(STATS.key, old.sha256)
    # Then it gets theirs, as the current token, and VCC was not asked again
    assert (result.outcome, result.source, result.token) == (
        CacheOutcome.CURRENT,
        Source.LEASE_WAIT,
        theirs,
    )
    assert upstream.calls == []


def test_scheduler_renews_due_keys_and_leaves_idle_or_fresh_ones(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    now = int(clock.now)

    def put(scope: str, left: int, asked_ago: float) -> None:
        token = CachedToken("nam", scope, f"old-{scope}", "Bearer", now + left - 900, now + left)
        table.items[Key("nam", scope)] = CacheEntry(
            "nam", scope, token, last_requested_at=clock.now - asked_ago
        )

    put("stats", 400, 10)  # margin 180 + next run in 300: due before the next run
    put("users:read", 800, 10)  # not due before the next run
    put("admin:read", 100, 7200)  # nobody asked for two hours: left to expire
    report = vendor.renew_due()
    assert (report.renewed, report.fresh, report.idle, report.failed) == (1, 1, 1, [])
    assert upstream.calls == [("nam", "stats")]


@dataclasses.dataclass
class FailsFor(CountingEndpoint):
    """Grants, but raises what `errors` holds for a scope."""

    errors: dict[str, Exception] = dataclasses.field(default_factory=dict)

    def fetch(self, region: str, scope: str, *args: Any, **kwargs: Any) -> IssuedToken:
        if scope in self.errors:
            self.calls.append((region, scope))
            raise self.errors[scope]
        return super().fetch(region, scope, *args, **kwargs)


def test_a_scheduled_run_counts_each_key_once_by_what_it_found_or_did(
    table: MemoryTokenTable, clock: FakeClock
) -> None:
    # Given two keys of each kind (nam and apac), and VCC failing for two scopes in emea
    now, blocked = int(clock.now), Failure("upstream_unavailable", "VCC is down", clock.now + 60, 1)
    upstream = FailsFor(
        errors={"stats": UpstreamUnavailable("VCC answered 500", 5), "users:read": KeyError()}
    )

    def put(region: str, scope: str, left: int, asked_ago: float = 10, **entry: Any) -> None:
        token = CachedToken(region, scope, "old", "Bearer", now + left - 900, now + left)
        key = Key(region, scope, entry.get("credential", DEFAULT_CREDENTIAL))
        table.items[key] = CacheEntry(
            region, scope, token, last_requested_at=clock.now - asked_ago, **entry
        )

    for region in ("nam", "apac"):
        put(region, "agents:read", 400)  # due before the next run: renewed
        put(region, "users:write", 800)  # fresh
        put(region, "admin:read", 100, asked_ago=7200)  # idle
        put(region, "calls:read", 100, unreadable=True)
        put(region, "queues:read", 100, credential="retired")  # no longer routed: orphaned
        put(region, "skills:read", 100, failure=blocked)  # backing off
    put("emea", "stats", 100)
    put("emea", "users:read", 100)
    # When the refresher runs
    report = vendor_for(table, upstream, clock).renew_due()
    # Then every key is counted once, and each failure says its key and why
    assert dataclasses.astuple(report)[:-1] == (2, 2, 2, 2, 2, 2)
    assert sorted(report.failed) == [
        "emea stats (default): upstream_unavailable: VCC answered 500",
        "emea users:read (default): unexpected KeyError",
    ]
    renewed = [("nam", "agents:read"), ("apac", "agents:read")]
    assert sorted(upstream.calls) == sorted([*renewed, ("emea", "stats"), ("emea", "users:read")])


# --- failure memory, bounded refreshes, short lifetimes (issue 9) ----------------------------


def test_a_failure_is_remembered_and_answered_without_asking_vcc_until_it_passes(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    upstream.failure = UpstreamUnavailable("429", 5, upstream_retry_after=7)
    with pytest.raises(UpstreamUnavailable):
        vendor.vend(STATS)
    clock.now += 3
    with pytest.raises(UpstreamUnavailable) as remembered:
        vendor.vend(STATS)
    assert remembered.value.retry_after == 4
    assert len(upstream.calls) == 1
    assert table.items[Key("emea", "stats")].lease is None
    clock.now += 4
    upstream.failure = None
    assert vendor.vend(STATS).source is Source.UPSTREAM
    assert table.items[Key("emea", "stats")].failure is None


def test_a_waiter_learns_of_the_holders_failure_at_once(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given another instance holding the lease, which fails while this caller waits
    assert table.acquire_lease(Lease(STATS.key, "holder", clock.now + 9), clock.now)
    original_sleep = clock.sleep

    def holder_fails(seconds: float) -> None:
        original_sleep(seconds)
        failure = vendor.settings.failure_backoff.failure(UpstreamTimeout("slow"), None, clock.now)
        table.release_lease(Lease(STATS.key, "holder", 0), failure)

    vendor = vendor_for(table, upstream, clock, sleep=holder_fails)
    started = clock.now
    with pytest.raises(UpstreamTimeout):
        vendor.vend(STATS)
    assert clock.now - started < 1  # not the whole wait_seconds
    assert upstream.calls == []


@pytest.mark.parametrize("failure", ["vcc-down", "vcc-slow", "aws-faltering"])
def test_one_fallback_rule_a_valid_token_short_of_min_ttl_is_served_whatever_failed(
    vendor: TokenVendor,
    table: MemoryTokenTable,
    upstream: CountingEndpoint,
    clock: FakeClock,
    failure: str,
) -> None:
    # Given a valid token with 30 s left, a caller who asks for 60, and the fetch failing
    cache_token(table, clock, 30)
    if failure == "aws-faltering":
        fault = DependencyUnavailable("DynamoDB is unavailable", 2, service="DynamoDB")
        table.acquire_lease = lambda *args: (_ for _ in ()).throw(fault)  # type: ignore[method-assign]
    else:
        upstream.failure = (
            UpstreamUnavailable("500", 5) if failure == "vcc-down" else UpstreamTimeout("slow")
        )
    # When the first caller asks, then another while the key backs off
    first, second = vendor.vend(STATS), vendor.vend(STATS)
    # Then both get the valid token as a fallback; VCC was asked once (never, without a lease)
    for served in (first, second):
        assert (served.outcome, served.token.access_token) == (CacheOutcome.FALLBACK, "old")
    assert len(upstream.calls) == (0 if failure == "aws-faltering" else 1)


def test_a_token_dynamodb_would_not_take_is_kept_here_behind_the_failure_and_served_again(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given DynamoDB refusing the write that stores a fetched token (and gives the lease back)
    stored = table.put

    def unavailable(*args: Any, **kwargs: Any) -> bool:
        raise DependencyUnavailable("DynamoDB is unavailable", 2, service="DynamoDB")

    table.put = unavailable  # type: ignore[method-assign]
    # When a caller's miss fetches a token
    first = vendor.vend(STATS)
    # Then the caller gets it; the lease went back with the fault remembered, so nobody else
    # asks VCC meanwhile
    assert (first.token.access_token, first.source) == ("token-1", Source.UPSTREAM)
    entry = table.items[STATS.key]
    assert (entry.token, entry.lease) == (None, None)
    assert entry.failure is not None
    assert entry.failure.code == "dependency_unavailable"
    assert entry.failure.blocks(clock.now)
    # And once the memory's copy is past its age and the failure passed, this instance still
    # serves the token DynamoDB never took, without asking VCC again
    table.put = stored  # type: ignore[method-assign]
    clock.now = max(clock.now + SETTINGS.memory_cache_seconds, entry.failure.retry_at) + 1
    again = vendor.vend(STATS)
    assert (again.token, again.outcome, again.source) == (
        first.token,
        CacheOutcome.HIT,
        Source.MEMORY,
    )
    assert len(upstream.calls) == 1


@pytest.mark.parametrize(
    ("table_left", "memory_left", "served"),
    [(30, 100, ("unstored", Source.MEMORY)), (100, 30, ("old", Source.DYNAMODB))],
)
def test_during_an_outage_the_fallback_is_the_valid_token_with_most_time_left(
    vendor: TokenVendor,
    table: MemoryTokenTable,
    clock: FakeClock,
    table_left: int,
    memory_left: int,
    served: tuple[str, Source],
) -> None:
    # Given VCC down (the key backs off), an older token in the table, and one fetched here
    # that DynamoDB would not take, both valid but short of what the caller asks
    failure = Failure("upstream_unavailable", "VCC is down", clock.now + 30, 1)
    old = cache_token(table, clock, table_left)
    table.items[STATS.key] = dataclasses.replace(table.items[STATS.key], failure=failure)
    unstored = dataclasses.replace(
        old, access_token="unstored", expires_at=int(clock.now) + memory_left
    )
    vendor.cache.keep_unstored(unstored, failure)
    # When a caller asks for 300 s
    result = vendor.vend(TokenRequest("emea", "stats", 300))
    # Then it gets the one with the most time left, as a fallback
    assert result.outcome is CacheOutcome.FALLBACK
    assert (result.token.access_token, result.source) == served


@pytest.mark.parametrize(
    ("failure", "cap"),
    [
        (UpstreamUnavailable("VCC answered 500", 5), SETTINGS.backoff_cap_seconds),
        (UpstreamRejectedCredentials("VCC rejected the credentials (401)"), None),
    ],
    ids=["transient", "rejected"],
)
def test_failures_in_a_row_are_counted_and_the_first_caller_is_told_what_is_enforced(
    vendor: TokenVendor,
    table: MemoryTokenTable,
    upstream: CountingEndpoint,
    clock: FakeClock,
    failure: UpstreamError,
    cap: int | None,
) -> None:
    # Given VCC failing for a key nobody holds a valid token of
    counts, cap = [], cap or SETTINGS.rejected_backoff_cap_seconds
    upstream.failure = failure
    for _ in range(3):
        # When a caller asks, each time once the previous failure's backoff has passed
        with pytest.raises(type(failure)) as caught:
            vendor.vend(STATS)
        remembered = table.items[STATS.key].failure
        assert remembered is not None
        # Then it is told the Retry-After the failure memory enforces, within the kind's cap
        assert caught.value.retry_after == remembered.wait(clock.now)
        assert remembered.retry_at - clock.now <= cap
        counts.append(remembered.count)
        clock.now = remembered.retry_at + 1
    # And the failures are counted in a row (the backoff doubles with the count)
    assert counts == [1, 2, 3]
    assert len(upstream.calls) == 3


def test_while_a_key_backs_off_its_callers_get_the_error_without_trying_the_lease(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a key whose last fetch failed, with no valid token
    upstream.failure = UpstreamUnavailable("VCC answered 500", 5)
    with pytest.raises(UpstreamUnavailable):
        vendor.vend(STATS)
    takes = []
    take = table.acquire_lease

    def counted(lease: Lease, now: float) -> bool:
        takes.append(lease)
        return take(lease, now)

    table.acquire_lease = counted  # type: ignore[method-assign]
    # When another caller asks while it backs off
    with pytest.raises(UpstreamUnavailable, match="VCC is not asked again"):
        vendor.vend(STATS)
    # Then it got the remembered error at once: no refused conditional write was paid for it
    assert (takes, len(upstream.calls)) == ([], 1)


def test_a_request_without_time_left_to_fetch_gets_503_and_gives_the_lease_back(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint
) -> None:
    # Given the least request budget allowed (a 1 s fetch and two AWS calls), some of it spent
    least = 2 * SETTINGS.aws_call_seconds + 1
    tight = dataclasses.replace(SETTINGS, request_budget=least)
    with deadline_in(tight), pytest.raises(UpstreamUnavailable) as caught:
        vendor.vend(STATS)
    # Then it is a 503 to retry in a second, naming the key; VCC was not asked and nothing is
    # remembered against the key (this request's deadline, not VCC)
    assert caught.value.retry_after == 1
    assert (
        caught.value.message == f"no time is left in this request to fetch {STATS.key.describe()}"
    )
    entry = table.items[STATS.key]
    assert (entry.lease, entry.failure, upstream.calls) == (None, None, [])


def test_a_failed_read_after_taking_the_lease_gives_it_back(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint
) -> None:
    # Given DynamoDB failing the consistent read a lease's holder makes before fetching
    read = table.get

    def failing_consistently(key: Key, *, consistent: bool = False) -> CacheEntry | None:
        if consistent:
            raise DependencyUnavailable("DynamoDB is unavailable", 2, service="DynamoDB")
        return read(key)

    table.get = failing_consistently  # type: ignore[method-assign]
    # When a caller misses
    with pytest.raises(DependencyUnavailable):
        vendor.vend(STATS)
    # Then the lease it took went back, and VCC was not asked
    assert (table.items[STATS.key].lease, upstream.calls) == (None, [])


def test_an_unexpected_fault_storing_a_fetched_token_gives_the_lease_back(
    vendor: TokenVendor, table: MemoryTokenTable
) -> None:
    def broken(*args: Any, **kwargs: Any) -> bool:
        raise KeyError("an unexpected fault")

    table.put = broken  # type: ignore[method-assign]
    with pytest.raises(KeyError):
        vendor.vend(STATS)
    assert table.items[STATS.key].lease is None


def test_a_token_held_in_memory_is_the_fallback_when_dynamodb_cannot_be_read(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a token this instance read, its copy older than the memory's bound
    token = cache_token(table, clock, 600)
    first = vendor.vend(STATS)
    assert (first.outcome, first.source) == (CacheOutcome.HIT, Source.DYNAMODB)
    again = vendor.vend(STATS)
    assert (again.outcome, again.source) == (CacheOutcome.HIT, Source.MEMORY)
    clock.now += SETTINGS.memory_cache_seconds + 1
    # When DynamoDB cannot be read
    fault = DependencyUnavailable("DynamoDB is unavailable", 2, service="DynamoDB")
    table.get = lambda *args, **kwargs: (_ for _ in ()).throw(fault)  # type: ignore[method-assign]
    result = vendor.vend(STATS)
    # Then the valid copy is served from memory as a fallback
    assert (result.token, result.outcome, result.source) == (
        token,
        CacheOutcome.FALLBACK,
        Source.MEMORY,
    )
    assert upstream.calls == []


@pytest.mark.parametrize(
    ("past_its_end", "skew"),
    [(3, 5), (1, 0)],
    ids=["claimed-within-the-clock-tolerance", "lapsed-and-replaced"],
)
def test_a_handed_over_lease_is_renewed_under_once_the_refresher_gets_to_it(
    table: MemoryTokenTable,
    upstream: CountingEndpoint,
    clock: FakeClock,
    past_its_end: int,
    skew: int,
) -> None:
    # Given a due token whose lease a vending instance handed over, and a refresher whose clock
    # reads past that lease's end: within its clock tolerance (the lease is still the handed
    # one by every clock), or beyond it (lapsed: nobody holds a lease)
    cache_token(table, clock, 100)
    handed = Lease(STATS.key, "vend-1", clock.now + 9)
    assert table.acquire_lease(handed, clock.now)
    clock.now = handed.until + past_its_end
    refresher = vendor_for(table, upstream, clock, clock_skew_seconds=skew)
    # When it renews the key handed over to it
    assert refresher.renew_handed_over(STATS.key, "vend-1")
    # Then the key is renewed once (under the claimed lease, or a new one) and the lease given back
    assert (len(upstream.calls), table.items[STATS.key].lease) == (1, None)


def test_a_handed_over_renewal_of_a_key_renewed_meanwhile_asks_vcc_nothing(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a vending instance's lease handed over, and a token outside its margin already
    cache_token(table, clock, 800)
    assert table.acquire_lease(Lease(STATS.key, "vend-1", clock.now + 9), clock.now)
    # When the refresher renews it under that lease
    assert vendor.renew_handed_over(STATS.key, "vend-1")
    # Then VCC was not asked, and the lease went back
    assert (upstream.calls, table.items[STATS.key].lease) == ([], None)


def test_a_due_token_is_renewed_once_per_backoff_while_vcc_fails(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    cache_token(table, clock, 150)  # inside the 180 s margin
    upstream.failure = UpstreamUnavailable("500", 5)
    for _ in range(10):
        assert vendor.vend(STATS).token.access_token == "old"
        clock.now += 0.1
    assert len(upstream.calls) == 1


def test_refreshes_fetch_at_most_once_per_interval_whatever_hash_they_quote(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    token = cache_token(table, clock, 600)
    for _ in range(20):
        token = vendor.refresh(STATS.key, token.sha256).token
        clock.now += 1
    assert len(upstream.calls) == 1
    clock.now += SETTINGS.forced_refresh_interval
    assert vendor.refresh(STATS.key, token.sha256).outcome is CacheOutcome.REFRESHED
    assert len(upstream.calls) == 2


@pytest.mark.parametrize(("lifetime", "min_ttl"), [(75, 600), (75, 0), (10, 60), (900, 600)])
def test_short_lifetimes_and_large_min_ttl_fetch_at_most_twice_per_lifetime(
    table: MemoryTokenTable,
    upstream: CountingEndpoint,
    clock: FakeClock,
    lifetime: int,
    min_ttl: int,
) -> None:
    # Given VCC issuing `lifetime` s tokens and a caller asking every second for `min_ttl`
    upstream.expires_in = lifetime
    vendor = vendor_for(table, upstream, clock, max_min_ttl=900)
    duration = 20 * lifetime
    for _ in range(duration):
        served = vendor.vend(TokenRequest("emea", "stats", min_ttl))
        assert served.token.seconds_left(clock.now) >= min(min_ttl, lifetime // 2)
        clock.now += 1
    # Then a key is fetched at most twice per lifetime, never once per request
    assert len(upstream.calls) <= 2 * duration / lifetime + 1


def test_the_scheduler_leaves_keys_that_back_off(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    cache_token(table, clock, 100)
    entry = table.items[Key("emea", "stats")]
    failure = vendor.settings.failure_backoff.failure(
        UpstreamUnavailable("500", 5), None, clock.now
    )
    table.items[Key("emea", "stats")] = dataclasses.replace(
        entry, failure=failure, last_requested_at=clock.now
    )
    report = vendor.renew_due()
    assert (report.backing_off, report.renewed, report.failed, upstream.calls) == (1, 0, [], [])


def test_a_caller_renewing_a_valid_token_waits_at_most_the_renew_ahead_budget(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    cache_token(table, clock, 150)  # inside the margin: this caller renews
    vendor.vend(STATS)
    table.items.clear()
    vendor.memory.clear()
    vendor.vend(STATS)  # a miss: nothing valid held, the whole budget
    assert upstream.budgets == [SETTINGS.renew_ahead_budget, SETTINGS.upstream_budget]


def test_with_a_renewer_a_due_token_is_served_and_renewed_in_the_background(
    table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a token inside its margin, and a vending instance with a background renewer
    cache_token(table, clock, 150)
    renewer = RecordingRenewer()
    vendor = vendor_for(table, upstream, clock, renewer=renewer)
    # When two callers ask
    served = [vendor.vend(STATS).token.access_token for _ in range(2)]
    # Then both get the valid token at once; one renewal was handed over, under its lease
    assert served == ["old", "old"]
    assert upstream.calls == []
    [(region, scope, owner)] = renewer.requests
    assert table.items[Key(region, scope)].leased_to(owner)
    # And the refresher renews under that lease, once
    refresher = vendor_for(table, upstream, clock)
    assert refresher.renew_handed_over(Key(region, scope), owner)
    assert upstream.calls == [("emea", "stats")]
    assert table.items[Key("emea", "stats")].lease is None
    assert vendor_for(table, upstream, clock).vend(STATS).token.access_token == "token-1"


def test_a_handed_over_renewal_whose_lease_expired_takes_a_new_one_or_leaves_it(
    table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    cache_token(table, clock, 150)
    refresher = vendor_for(table, upstream, clock)
    # the event arrives after its lease expired, and someone else holds a new one
    assert table.acquire_lease(Lease(STATS.key, "someone-else", clock.now + 9), clock.now)
    assert not refresher.renew_handed_over(STATS.key, "the-expired-owner")
    assert upstream.calls == []
    clock.now += 10  # nobody holds it now
    assert refresher.renew_handed_over(STATS.key, "the-expired-owner")
    assert upstream.calls == [("emea", "stats")]


def test_a_failed_hand_over_releases_the_lease_and_serves_the_token(
    table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    cache_token(table, clock, 150)
    failing = RecordingRenewer(
        failure=DependencyUnavailable("Lambda throttled", 2, service="Lambda")
    )
    vendor = vendor_for(table, upstream, clock, renewer=failing)
    assert vendor.vend(STATS).token.access_token == "old"
    assert table.items[Key("emea", "stats")].lease is None
    assert upstream.calls == []


def test_while_someone_renews_a_due_token_it_is_served_from_memory_without_rereading(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a due token whose renewal lease another instance holds
    cache_token(table, clock, 150)
    assert table.acquire_lease(Lease(STATS.key, "other-instance", clock.now + 9), clock.now)
    # When callers of this instance ask, Then the first reads DynamoDB and tries the lease once;
    # the next ones are served from memory until that lease would have ended
    assert vendor.vend(STATS).source is Source.DYNAMODB
    clock.now += 1
    assert vendor.vend(STATS).source is Source.MEMORY
    assert upstream.calls == []
    # and once that lease has expired (its holder died), this instance renews
    clock.now += SETTINGS.lease_seconds
    renewed = vendor.vend(STATS)
    assert (renewed.source, renewed.token.access_token) == (Source.DYNAMODB, "token-1")
    assert upstream.calls == [("emea", "stats")]


# --- clock skew between instances (issue 18) ---------------------------------------------


class SkewedClock:
    """Another instance's clock: the shared fake clock, `ahead` seconds fast."""

    def __init__(self, clock: FakeClock, ahead: float) -> None:
        self.clock, self.ahead = clock, ahead

    def __call__(self) -> float:
        return self.clock.now + self.ahead

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)


def skewed_vendor(
    table: MemoryTokenTable,
    upstream: CountingEndpoint,
    clock: FakeClock,
    ahead: float,
    sleep: Callable[[float], None] | None = None,
) -> TokenVendor:
    configured = dataclasses.replace(SETTINGS, clock_skew_seconds=5)
    fast = SkewedClock(clock, ahead)
    return TokenVendor(
        configured,
        table,
        FixedCredentials(),
        upstream,
        MemoryCache(configured.memory_cache_seconds),
        clock=fast,
        sleep=sleep or fast.sleep,
    )


def test_a_fresh_lease_is_not_taken_over_by_an_instance_whose_clock_runs_ahead(
    table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a lease taken just now by an instance with the true time
    lease = Lease(STATS.key, "holder", clock.now + SETTINGS.lease_seconds)
    assert table.acquire_lease(lease, clock.now)

    # When an instance whose clock is ahead by the lease's length (within the 5 s tolerance)
    # sees it, while the holder is still fetching
    def holder_stores(seconds: float) -> None:
        clock.now += seconds
        if clock.now - lease.until + SETTINGS.lease_seconds >= 1:  # the holder took 1 s
            cache_token(table, clock, 900, lifetime=900)

    fast = skewed_vendor(table, upstream, clock, SETTINGS.lease_seconds + 4, holder_stores)
    served = fast.vend(STATS)
    # Then it waited for the holder's token instead of fetching: no second grant
    assert served.source is Source.LEASE_WAIT
    assert upstream.calls == []


def test_a_token_is_served_only_with_more_than_the_tolerance_left(
    table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given a cached token with 4 s left and VCC down, and a caller asking for any time left
    cache_token(table, clock, 4)
    upstream.failure = UpstreamUnavailable("500", 5)
    vendor = skewed_vendor(table, upstream, clock, ahead=0)
    # Then the token is not served: another clock may already count it expired
    with pytest.raises(UpstreamUnavailable):
        vendor.vend(TokenRequest("emea", "stats", 0))


def test_a_remembered_retry_after_is_honoured_by_an_instance_whose_clock_runs_ahead(
    table: MemoryTokenTable, upstream: CountingEndpoint, clock: FakeClock
) -> None:
    # Given VCC rate limiting with Retry-After: 7, remembered by an instance with the true time
    upstream.failure = UpstreamUnavailable("429", 7, upstream_retry_after=7)
    with pytest.raises(UpstreamUnavailable):
        skewed_vendor(table, upstream, clock, ahead=0).vend(STATS)
    # When, 3 s later, an instance whose clock is 4.5 s ahead asks (past retry_at by its clock)
    clock.now += 3
    with pytest.raises(UpstreamUnavailable):
        skewed_vendor(table, upstream, clock, ahead=4.5).vend(STATS)
    # Then it honoured the remembered Retry-After: VCC was asked once
    assert len(upstream.calls) == 1


def test_a_take_whose_sdk_retry_was_refused_by_its_own_lease_still_fetches(
    vendor: TokenVendor, table: MemoryTokenTable, upstream: CountingEndpoint
) -> None:
    # Given DynamoDB applying a lease write whose answer was lost, so the SDK's retry of it is
    # refused by the very lease it took
    take = table.acquire_lease

    def applied_then_refused(lease: Lease, now: float) -> bool:
        take(lease, now)
        return False

    table.acquire_lease = applied_then_refused  # type: ignore[method-assign]
    # When a caller asks for a cold key
    result = vendor.vend(STATS)
    # Then it fetches under the lease it holds, at once, instead of waiting for itself
    assert (result.outcome, result.source) == (CacheOutcome.MISS, Source.UPSTREAM)
    assert upstream.calls == [("emea", "stats")]
    assert table.items[STATS.key].lease is None  # and gives it back


class CountingWrites(MemoryTokenTable):
    """The memory table, counting the writes a token's storing costs."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def put(self, token: CachedToken, **how: object) -> bool:  # type: ignore[override]
        self.writes.append("store+release" if how.get("releasing") else "store")
        return super().put(token, **how)  # type: ignore[arg-type]

    def release_lease(self, lease: Lease, failure: object = None) -> None:  # type: ignore[override]
        self.writes.append("release")
        super().release_lease(lease, failure)  # type: ignore[arg-type]


def saved(cached_expires_in: int | None, lease_owner: str) -> tuple[str, list[str]]:
    """Store a new token (expiring in 600 s) under lease "aa..." over what the item holds;
    (the token served, the writes it cost)."""
    table, now = CountingWrites(), 1_800_000_000
    key = Key("emea", "stats")
    if cached_expires_in is not None:
        table.put(CachedToken("emea", "stats", "later", "Bearer", now, now + cached_expires_in))
    table.acquire_lease(Lease(key, lease_owner, now + 9), now)
    table.writes.clear()
    store = TokenCache(table, MemoryCache(30), lambda: now)
    new = CachedToken("emea", "stats", "new", "Bearer", now, now + 600)
    served = store.save(new, Lease(key, "aa" * 16, now + 9))
    return served.access_token, table.writes


@pytest.mark.parametrize(
    ("cached", "holder", "expected"),
    [
        (None, "aa" * 16, ("new", ["store+release"])),  # the usual case: one write
        (900, "aa" * 16, ("later", ["store+release", "release"])),  # a later token stays
        (None, "bb" * 16, ("new", ["store+release", "store"])),  # the lease was taken over
    ],
)
def test_storing_a_token_gives_the_lease_back_in_its_write_and_the_rare_cases_cost_two(
    cached: int | None, holder: str, expected: tuple[str, list[str]]
) -> None:
    assert saved(cached, holder) == expected
