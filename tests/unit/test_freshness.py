"""When a token will do (vcc_tokens.vending.freshness): plain functions, no fakes."""

from __future__ import annotations

import pytest

from vcc_token_contract.item import KeyState
from vcc_tokens.values.backoff import Failure
from vcc_tokens.values.tokens import CachedToken, CacheEntry, Key, Lease
from vcc_tokens.vending.freshness import RenewalMargin, key_state, usable
from vcc_tokens.vending.outcome import CacheOutcome

NOW = 1_800_000_000
KEY = Key("emea", "stats")
MARGIN = RenewalMargin(seconds=180, fraction=0.2)  # the defaults: 3 minutes or 20 %


def token(left: int, lifetime: int = 900) -> CachedToken:
    return CachedToken("emea", "stats", "t", "Bearer", NOW + left - lifetime, NOW + left)


@pytest.mark.parametrize(
    ("lifetime", "margin"),
    [(900, 180), (3600, 720), (300, 150), (60, 30), (2, 1)],  # 20 %, else 3 min, capped at 1/2
)
def test_the_margin_is_the_larger_of_seconds_and_fraction_capped_at_half_a_lifetime(
    lifetime: int, margin: float
) -> None:
    assert MARGIN.of(token(lifetime, lifetime)) == margin


def test_due_inside_the_margin_now_or_by_the_horizon() -> None:
    assert not MARGIN.due(token(181), NOW)
    assert MARGIN.due(token(180), NOW)
    assert MARGIN.due(token(400), NOW, horizon=300)  # inside it before the next run
    assert not MARGIN.due(token(481), NOW, horizon=300)


@pytest.mark.parametrize(
    ("left", "min_ttl", "lifetime", "expected"),
    [
        (600, 60, 900, True),
        (600, 600, 900, True),
        (400, 401, 900, False),  # short of min_ttl: the mandatory window
        (600, 900, 900, True),  # min_ttl capped at half the lifetime
        (449, 900, 900, False),
        (1, 0, 900, True),
        (0, 0, 900, False),  # expired is never usable
        (-60, 0, 900, False),
    ],
)
def test_usable_means_valid_with_min_ttl_left_capped_at_half_a_lifetime(
    left: int, min_ttl: int, lifetime: int, expected: bool
) -> None:
    assert usable(token(left, lifetime), min_ttl, NOW) is expected


def test_no_token_is_never_usable() -> None:
    assert not usable(None, 0, NOW)


FAILED = Failure("upstream_unavailable", "VCC failed", NOW + 30, 1)


def entry(left: int | None, **fields: object) -> CacheEntry:
    held = token(left) if left is not None else None
    return CacheEntry("emea", "stats", held, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "min_ttl", "expected"),
    [
        (None, 60, KeyState.ABSENT),
        (entry(None), 60, KeyState.ABSENT),
        (entry(600), 60, KeyState.FRESH),
        (entry(100), 60, KeyState.DUE),  # inside the margin, still usable: served
        # served whatever failed before, but not renewed while the failure is remembered
        (entry(100, failure=FAILED), 60, KeyState.DUE_BACKING_OFF),
        (entry(100), 120, KeyState.BELOW_MIN_TTL),  # short of this caller's min_ttl
        (entry(-5), 0, KeyState.EXPIRED),
        (entry(-5, failure=FAILED), 0, KeyState.BACKING_OFF),
        (entry(None, failure=FAILED), 0, KeyState.BACKING_OFF),
        (entry(None, unreadable=True), 0, KeyState.UNREADABLE),
        (entry(3), 0, KeyState.BELOW_MIN_TTL),  # valid, but within the clock skew of expiry
        # who may fetch is the lease's: a held one changes nothing of what the item says
        (entry(-5, lease=Lease(KEY, "a" * 32, NOW + 5)), 0, KeyState.EXPIRED),
    ],
)
def test_a_keys_state_is_worked_out_once_from_its_entry(
    item: CacheEntry | None, min_ttl: int, expected: KeyState
) -> None:
    assert key_state(item, NOW, min_ttl=min_ttl, margin=MARGIN, skew=5) is expected


def test_the_scheduled_renewal_sees_due_by_its_horizon() -> None:
    state = key_state(entry(400), NOW, min_ttl=0, margin=MARGIN, skew=5, horizon=300)
    assert state is KeyState.DUE


def test_a_requests_cache_outcome_follows_from_its_keys_state() -> None:
    served = {state for state in KeyState if state.usable}
    assert served == {KeyState.FRESH, KeyState.DUE, KeyState.DUE_BACKING_OFF}
    assert {CacheOutcome.of(state) for state in served} == {CacheOutcome.HIT}
    fetched = set(KeyState) - served - {KeyState.BACKING_OFF}
    # each reason to fetch is its own outcome in the ledger
    assert len({CacheOutcome.of(state) for state in fetched}) == len(fetched)
    assert CacheOutcome.HIT not in {CacheOutcome.of(state) for state in fetched}
