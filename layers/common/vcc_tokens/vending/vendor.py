"""The vendor: a validated request (vcc_tokens.values.token_request) in, a token out, read top
to bottom.

The aim is one upstream request per key per token lifetime, whatever the number of callers and
Lambda instances, with callers almost never waiting for VCC. One GET visits the rooms in order:
this environment's memory and DynamoDB (store), when a token will do (freshness), renewal ahead
of expiry (renewals), who may fetch (single_flight, minting), and what to serve when anything
fails (fallback). A refresh after a 401 fetches at most once per key per
`forced_refresh_interval`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vcc_token_contract.item import KeyState
from vcc_tokens.aws.credentials import CredentialStore
from vcc_tokens.aws.handover import Renewer
from vcc_tokens.aws.health import HealthLog
from vcc_tokens.aws.table import TokenTable
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import VendError
from vcc_tokens.values.token_request import TokenRequest
from vcc_tokens.values.tokens import NOTHING_CACHED, CachedToken, CacheEntry, Key
from vcc_tokens.vcc.upstream import TokenEndpoint
from vcc_tokens.vending.cache import MemoryCache, TokenCache
from vcc_tokens.vending.fallback import backoff_answer, best_valid
from vcc_tokens.vending.freshness import RenewalMargin, key_state, usable
from vcc_tokens.vending.minting import Minter
from vcc_tokens.vending.outcome import CacheOutcome, Source, Vend
from vcc_tokens.vending.renewals import RenewalReport, Renewals
from vcc_tokens.vending.single_flight import SingleFlight


class TokenVendor:
    def __init__(
        self,
        settings: Settings,
        table: TokenTable,
        credentials: CredentialStore,
        upstream: TokenEndpoint,
        memory: MemoryCache,
        renewer: Renewer | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        health: HealthLog | None = None,
    ) -> None:
        self.settings = settings
        self.table = table
        self.memory = memory
        self.clock = clock
        self.skew = settings.clock_skew_seconds
        self.cache = TokenCache(table, memory, clock, self.skew)
        minter = Minter(credentials, upstream, clock, settings.rotation_grace_seconds, health)
        self.flight = SingleFlight(self.cache, minter, settings, clock, sleep)
        margin = RenewalMargin(settings.renew_margin_seconds, settings.renew_margin_fraction)
        self.renewals = Renewals(self.cache, self.flight, margin, settings, clock, renewer)

    # --- GET /tokens/{region}/{scope} ---------------------------------------------------------
    def vend(self, request: TokenRequest) -> Vend:
        key, min_ttl, now = request.key, request.min_ttl, self.clock()
        recent = self._recent_enough(key, min_ttl, now)
        if recent is not None:
            return Vend(recent, CacheOutcome.HIT, Source.MEMORY)
        copy = self.cache.valid_copy(key, now)  # any age: a candidate if all else fails
        cached: CachedToken | None = None
        try:
            entry = self.cache.read(key, now)
            copy = self.cache.still_current(copy, entry)  # purged: not served from memory again
            cached = entry.token if entry else None
            state = self.state(entry, now, min_ttl)
            if cached is not None and state.usable:  # served as it is; a DUE one renewed meanwhile
                if state is KeyState.DUE:
                    cached = self.renewals.ahead(cached)
                return Vend(cached, CacheOutcome.of(state), Source.DYNAMODB)
            if usable(copy, min_ttl, now, self.skew):  # fetched here, not stored
                return Vend(copy, CacheOutcome.HIT, Source.MEMORY)
            if state is KeyState.BACKING_OFF and entry is not None and entry.failure is not None:
                raise backoff_answer(entry.failure, now)  # key_state found it still blocking
            wanted = lambda t: usable(t, min_ttl, self.clock(), self.skew)  # noqa: E731
            heal = None  # an unreadable item's token is replaced as it is
            if entry is not None and state is KeyState.UNREADABLE:
                heal = entry.replaced_sha256()
            got = self.flight.obtain(key, wanted, requested_at=now, replacing=heal)
        except VendError as error:  # one rule, whatever failed: the best valid token, or this
            candidates = [(cached, Source.DYNAMODB), (copy, Source.MEMORY)]
            return best_valid(error, candidates, now, self.skew)
        return Vend(got.token, CacheOutcome.of(state), got.source)

    def state(self, entry: CacheEntry | None, now: float, min_ttl: int) -> KeyState:
        return key_state(entry, now, min_ttl=min_ttl, margin=self.renewals.margin, skew=self.skew)

    def _recent_enough(self, key: Key, min_ttl: int, now: float) -> CachedToken | None:
        """The memory's recent copy, if fresh, or due with its renewal settled (under way, or
        backing off)."""
        entry = self.cache.recent(key, now)
        state = self.state(entry, now, min_ttl)
        if state is KeyState.DUE and self.renewals.settled(key, now):
            state = KeyState.FRESH
        fresh_enough = state in (KeyState.FRESH, KeyState.DUE_BACKING_OFF)
        return entry.token if fresh_enough and entry is not None else None

    # --- POST /tokens/{region}/{scope}/refresh --------------------------------------------------
    def refresh(self, key: Key, rejected_sha256: str | None) -> Vend:
        """Replace the cached token after VCC rejected it, once, however many callers ask.

        With `rejected_sha256`, only if the cached token is still that one (else the cached
        token is returned); without it (a forced refresh), only if the cached token is older
        than `forced_refresh_interval`. Either way at most one refresh fetches per key per
        interval: within it, the token the last refresh fetched is returned."""
        now = self.clock()
        entry = self.cache.latest(key)
        current = entry.token if entry else None
        interval = self.settings.forced_refresh_interval

        def satisfied(token: CachedToken | None) -> bool:
            if not usable(token, 0, self.clock(), self.skew):
                return False
            if rejected_sha256 is None:
                return token.fetched_at > now - interval
            return token.sha256 != rejected_sha256

        refreshed_lately = entry is not None and entry.refreshed_at > now - interval
        if usable(current, 0, now, self.skew) and (satisfied(current) or refreshed_lately):
            return Vend(current, CacheOutcome.CURRENT, Source.DYNAMODB)
        # What the item holds is replaced, whatever hash was quoted: so a refresh of an expired,
        # unreadable or absent token is stored, and bounds the next ones like any other
        replacing = entry.replaced_sha256() if entry else NOTHING_CACHED
        got = self.flight.obtain(key, satisfied, replacing=replacing)
        outcome = CacheOutcome.REFRESHED if got.source is Source.UPSTREAM else CacheOutcome.CURRENT
        return Vend(got.token, outcome, got.source)

    # --- the refresher ----------------------------------------------------------------------
    def renew_due(self) -> RenewalReport:
        return self.renewals.scheduled()

    def renew_handed_over(self, key: Key, lease_owner: str) -> bool:
        return self.renewals.handed_over(key, lease_owner)
