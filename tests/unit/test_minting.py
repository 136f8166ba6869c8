"""Minting within one budget: a rejected secret's second try gets only what the first left."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field

import pytest

from tests.fakes import FakeClock, FixedCredentials
from vcc_tokens.aws.credentials import ClientCredentials, Stage
from vcc_tokens.aws.health import HealthLog
from vcc_tokens.values.errors import (
    UpstreamError,
    UpstreamRefusedScope,
    UpstreamRejectedCredentials,
    UpstreamTimeout,
)
from vcc_tokens.values.tokens import Key
from vcc_tokens.vcc.token_answer import IssuedToken
from vcc_tokens.vcc.upstream import TokenEndpoint
from vcc_tokens.vending.minting import MIN_SECOND_TRY_SECONDS, Minter

KEY = Key("emea", "stats")


class JustRotated(FixedCredentials):
    """A current secret stored just now, and the previous one still readable."""

    def __init__(self, clock: FakeClock) -> None:
        self.stored_at = clock.now - 60

    def read(
        self, region: str, credential: str, stage: Stage = "AWSCURRENT", *, fresh: bool = False
    ) -> ClientCredentials | None:
        secret = {"AWSCURRENT": "new", "AWSPREVIOUS": "old"}.get(stage)
        if secret is None:
            return None
        return ClientCredentials("id", secret, created_at=self.stored_at)


@dataclass
class RejectsTheNewSecret(TokenEndpoint):
    """VCC still propagating a re-issue: it rejects the new secret after `takes` seconds (on
    the minter's clock), grants with the old."""

    clock: FakeClock
    takes: float = 0.0
    budgets: list[float] = field(default_factory=list)

    def fetch(
        self, region: str, scope: str, credentials: ClientCredentials, budget: float
    ) -> IssuedToken:
        self.budgets.append(budget)
        if credentials.client_secret == "new":
            self.clock.sleep(self.takes)
            raise UpstreamRejectedCredentials("VCC rejected the credentials (401)")
        return IssuedToken("granted", 900)


def minter_for(clock: FakeClock, upstream: TokenEndpoint) -> Minter:
    """A minter whose budgets are measured on the fake clock, as its requests spend it."""
    return Minter(JustRotated(clock), upstream, clock, rotation_grace=3600, monotonic=clock)


def test_the_previous_secret_is_tried_within_what_the_first_request_left() -> None:
    # Given VCC taking 3 s to reject the new secret, of an 8 s budget
    clock = FakeClock()
    upstream = RejectsTheNewSecret(clock, takes=3.0)
    # When a token is minted
    assert minter_for(clock, upstream).mint(KEY, budget=8.0).access_token == "granted"
    # Then the previous secret's request got the 5 s the first left, not a whole budget again
    assert upstream.budgets == [8.0, 5.0]


def test_with_too_little_budget_left_the_rejection_is_the_answer() -> None:
    clock = FakeClock()
    upstream = RejectsTheNewSecret(clock, takes=2.0)
    with pytest.raises(UpstreamRejectedCredentials):
        minter_for(clock, upstream).mint(KEY, budget=2.0 + MIN_SECOND_TRY_SECONDS / 2)
    assert len(upstream.budgets) == 1


class RotatedMeanwhile(FixedCredentials):
    """The cached secret is "old"; the secret store already holds "new" (read past the cache)."""

    def __init__(self) -> None:
        self.reads: list[tuple[str, str, bool]] = []

    def read(
        self, region: str, credential: str, stage: Stage = "AWSCURRENT", *, fresh: bool = False
    ) -> ClientCredentials | None:
        self.reads.append((region, credential, fresh))
        if stage != "AWSCURRENT":
            return None
        return ClientCredentials("id", "new" if fresh else "old")


@dataclass
class RejectsTheOldSecret(TokenEndpoint):
    clock: FakeClock
    calls: list[tuple[str, str, str, float]] = field(default_factory=list)

    def fetch(
        self, region: str, scope: str, credentials: ClientCredentials, budget: float
    ) -> IssuedToken:
        self.calls.append((region, scope, credentials.client_secret, budget))
        if credentials.client_secret == "old":
            self.clock.sleep(1.0)
            raise UpstreamRejectedCredentials("VCC rejected the credentials (401)")
        return IssuedToken("granted", 900)


def test_a_secret_rotated_since_it_was_cached_is_read_again_and_tried_for_the_same_key() -> None:
    # Given a cached secret VCC rejects (after 1 s) and a newer one in the secret store
    clock, credentials = FakeClock(), RotatedMeanwhile()
    upstream = RejectsTheOldSecret(clock)
    minter = Minter(credentials, upstream, clock, rotation_grace=3600, monotonic=clock)
    # When a token is minted
    assert minter.mint(KEY, budget=8.0).access_token == "granted"
    # Then the secret was read again past the cache, and sent for the same key with what was left
    assert [fresh for *_, fresh in credentials.reads] == [False, True]
    assert upstream.calls == [("emea", "stats", "old", 8.0), ("emea", "stats", "new", 7.0)]


@dataclass
class RecordingHealth(HealthLog):
    """What the refresher's minter records per credential."""

    records: list[tuple[object, ...]] = field(default_factory=list)

    def granted(self, region: str, credential: str, at: float) -> None:
        self.records.append(("granted", region, credential, at))

    def rejected(self, region: str, credential: str, code: str, at: float) -> None:
        self.records.append(("rejected", region, credential, code, at))

    def rotated(
        self, region: str, credential: str, outcome: str, at: float, version: str = ""
    ) -> None:
        raise NotImplementedError("minting rotates nothing")


@dataclass
class Answers(TokenEndpoint):
    """Raises `error` if set, else grants."""

    error: Exception | None = None

    def fetch(
        self, region: str, scope: str, credentials: ClientCredentials, budget: float
    ) -> IssuedToken:
        if self.error is not None:
            raise self.error
        return IssuedToken("granted", 900)


NAMED = Key("nam", "stats", "reporting")


@pytest.mark.parametrize(
    ("error", "recorded"),
    [
        (None, ("granted", "nam", "reporting")),
        (UpstreamRejectedCredentials("401"), ("rejected", "nam", "reporting", "invalid_client")),
        (UpstreamRefusedScope("400"), ("rejected", "nam", "reporting", "invalid_scope")),
    ],
)
def test_each_grant_and_rejection_is_recorded_for_its_credential_and_time(
    error: Exception | None, recorded: tuple[object, ...]
) -> None:
    clock, health = FakeClock(), RecordingHealth()
    credentials = FixedCredentials()
    credentials.check_serves = lambda key, found: None  # type: ignore[method-assign]
    minter = Minter(credentials, Answers(error), clock, rotation_grace=0, health=health)
    with suppress(UpstreamError):
        minter.mint(NAMED, budget=8.0)
    assert health.records == [(*recorded, clock.now)]


def test_a_timeout_is_neither_a_grant_nor_a_rejection() -> None:
    clock, health = FakeClock(), RecordingHealth()
    minter = Minter(FixedCredentials(), Answers(UpstreamTimeout("slow")), clock, 0, health)
    with pytest.raises(UpstreamTimeout):
        minter.mint(KEY, budget=8.0)
    assert health.records == []


def test_a_token_minted_for_a_named_credential_is_that_credentials() -> None:
    credentials = FixedCredentials()
    credentials.check_serves = lambda key, found: None  # type: ignore[method-assign]
    minter = Minter(credentials, Answers(), FakeClock(), rotation_grace=0)
    assert minter.mint(NAMED, budget=8.0).key == NAMED
