"""The one time-to-live cache every keeper of values between requests uses."""

from __future__ import annotations

from vcc_tokens.values.ttl_cache import TtlCache


def test_a_value_is_fresh_for_max_age_then_only_a_last_resort() -> None:
    cache: TtlCache[str, str] = TtlCache(max_age=30)
    cache.put("secret", "v1", now=100)
    assert cache.get("secret", now=129.9) == "v1"
    assert cache.get("secret", now=130) is None  # max_age seconds after it was put: stale
    assert cache.any_age("secret") == "v1"  # still there for an outage's fallback
    assert cache.get("other", now=100) is None
    assert cache.any_age("other") is None


def test_a_value_put_again_is_fresh_again_and_pop_forgets_it() -> None:
    cache: TtlCache[str, str] = TtlCache(max_age=30)
    cache.put("secret", "v1", now=100)
    cache.put("secret", "v2", now=125)
    assert cache.get("secret", now=150) == "v2"
    cache.pop("secret")
    cache.pop("never-put")  # nothing to forget: no error
    assert cache.any_age("secret") is None


def test_with_max_entries_the_oldest_put_goes_first() -> None:
    cache: TtlCache[int, str] = TtlCache(max_age=300, max_entries=2)
    cache.put(1, "a", now=0)
    cache.put(2, "b", now=1)
    cache.put(1, "a again", now=2)  # re-put: now the youngest
    cache.put(3, "c", now=3)
    assert [cache.any_age(k) for k in (1, 2, 3)] == ["a again", None, "c"]
    cache.clear()
    assert [cache.any_age(k) for k in (1, 3)] == [None, None]
