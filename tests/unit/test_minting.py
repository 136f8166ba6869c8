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
        self.clock = clock

    def read(
        self, region: str, credential: str, stage: Stage = "AWSCURRENT", *, fresh: bool = False
    ) -> ClientCredentials | None:
        secret = {"AWSCURRENT": "new", "AWSPREVIOUS": "old"}.get(stage)
        if secret is None:
            return None
        return ClientCredentials("id", secret, created_at=self.clock.now - 60)


@dataclass
class RejectsTheNewSecret(TokenEndpoint):
    """VCC still propagating a re-issue: it rejects the new secret, grants with the old."""

    budgets: list[float] = field(default_factory=list)

    def fetch(
        self, region: str, scope: str, credentials: ClientCredentials, budget: float
    ) -> IssuedToken:
        self.budgets.append(budget)
        if credentials.client_secret == "new":
            raise UpstreamRejectedCredentials("VCC rejected the credentials (401)")
        return IssuedToken("granted", 900)


def test_the_previous_secret_is_tried_within_what_the_first_request_left() -> None:
    clock = FakeClock()
    upstream = RejectsTheNewSecret()
    minter = Minter(JustRotated(clock), upstream, clock, rotation_grace=3600)
    assert minter.mint(KEY, budget=8.0).access_token == "granted"
    first, second = upstream.budgets
    assert first == 8.0
    assert MIN_SECOND_TRY_SECONDS <= second <= first  # never a second whole budget


def test_with_too_little_budget_left_the_rejection_is_the_answer() -> None:
    clock = FakeClock()
    upstream = RejectsTheNewSecret()
    minter = Minter(JustRotated(clock), upstream, clock, rotation_grace=3600)
    with pytest.raises(UpstreamRejectedCredentials):
        minter.mint(KEY, budget=MIN_SECOND_TRY_SECONDS / 2)
    assert len(upstream.budgets) == 1
