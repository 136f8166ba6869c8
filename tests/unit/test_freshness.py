"""When a token will do (vcc_tokens.vending.freshness): plain functions, no fakes."""

from __future__ import annotations

import pytest

from vcc_tokens.values.backoff import Failure
from vcc_tokens.values.tokens import CachedToken, CacheEntry, Key, Lease
from vcc_tokens.vending.freshness import KeyState, RenewalMargin, key_state, usable

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
        (entry(100), 120, KeyState.EXPIRED),  # short of this caller's min_ttl
        (entry(-5), 0, KeyState.EXPIRED),
        (entry(-5, failure=FAILED), 0, KeyState.BACKING_OFF),
        (entry(None, failure=FAILED), 0, KeyState.BACKING_OFF),
        (entry(None, unreadable=True), 0, KeyState.UNREADABLE),
        (entry(-5, lease=Lease(KEY, "a" * 32, NOW + 5)), 0, KeyState.LEASED),
        (entry(-5, lease=Lease(KEY, "a" * 32, NOW - 60)), 0, KeyState.EXPIRED),  # lapsed
    ],
)
def test_a_keys_state_is_worked_out_once_from_its_entry(
    item: CacheEntry | None, min_ttl: int, expected: KeyState
) -> None:
    assert key_state(item, NOW, min_ttl=min_ttl, margin=MARGIN, skew=5) is expected


def test_the_scheduled_renewal_sees_due_by_its_horizon() -> None:
    state = key_state(entry(400), NOW, min_ttl=0, margin=MARGIN, skew=5, horizon=300)
    assert state is KeyState.DUE
