"""Failure memory: how long a key backs off after VCC fails, and what callers are told."""

from __future__ import annotations

import pytest

from vcc_tokens.values.backoff import Backoff, Failure
from vcc_tokens.values.errors import (
    UpstreamBadResponse,
    UpstreamRateLimited,
    UpstreamRefusedScope,
    UpstreamTimeout,
    UpstreamUnavailable,
)

NOW = 1_800_000_000.0
BACKOFF = Backoff(base=2.0, cap=300.0, rejected_cap=60.0)


def test_vccs_retry_after_decides_when_it_gives_one() -> None:
    failure = BACKOFF.failure(UpstreamRateLimited("429", 5, upstream_retry_after=7), None, NOW)
    assert (failure.retry_at, failure.count, failure.code) == (NOW + 7, 1, "upstream_rate_limited")


def test_backoff_doubles_with_equal_jitter_up_to_the_cap() -> None:
    previous = None
    for count in range(1, 12):
        failure = BACKOFF.failure(UpstreamUnavailable("500", 5), previous, NOW)
        ceiling = min(300.0, 2.0 * 2 ** (count - 1))
        assert failure.count == count
        assert ceiling / 2 <= failure.retry_at - NOW <= ceiling
        previous = failure


@pytest.mark.parametrize(
    "error",
    [UpstreamRefusedScope("invalid_scope"), UpstreamBadResponse("too large")],
)
def test_answers_that_need_an_operator_back_off_for_a_shorter_time(error: Exception) -> None:
    previous = Failure("x", "x", NOW, count=30)
    failure = BACKOFF.failure(error, previous, NOW)  # type: ignore[arg-type]
    assert 30 <= failure.retry_at - NOW <= 60


def test_a_remembered_failure_answers_like_the_original_with_the_time_left() -> None:
    failure = BACKOFF.failure(UpstreamTimeout("the emea token endpoint did not answer"), None, NOW)
    error = failure.error(failure.retry_at - 1.2)
    assert isinstance(error, UpstreamTimeout)
    assert (error.status, error.code, error.retry_after) == (504, "upstream_timeout", 2)
    assert error.message.startswith("the emea token endpoint did not answer; ")
    assert failure.blocks(failure.retry_at - 0.001)
    assert not failure.blocks(failure.retry_at)


def test_a_fetch_retries_within_its_numbers_and_never_sleeps_through_a_long_retry_after() -> None:
    from vcc_tokens.values.backoff import Retries

    retries = Retries(attempts=3, base=0.2, cap=2.0, longest_retry_after=1.0)
    first = retries.delay(1, None)
    assert first is not None
    assert 0 <= first <= 0.2
    assert retries.delay(2, 0.9) == pytest.approx(0.9, abs=0.4)  # at least what VCC asked
    assert (retries.delay(2, 0.9) or 0) >= 0.9
    assert retries.delay(1, 1.5) is None  # longer than a fetch waits: the failure memory's
    assert retries.delay(3, None) is None  # the third attempt was the last
