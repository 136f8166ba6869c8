"""Minting within one budget: a rejected secret's second try gets only what the first left."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.fakes import FakeClock, FixedCredentials
from vcc_tokens.credentials import ClientCredentials, Stage
from vcc_tokens.errors import UpstreamRejectedCredentials
from vcc_tokens.token_answer import IssuedToken
from vcc_tokens.tokens import Key
from vcc_tokens.upstream import TokenEndpoint
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
