"""In-memory collaborators for unit tests: same contracts as the real ones, no sockets."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from vcc_tokens.aws.credentials import ClientCredentials, CredentialStore, Stage
from vcc_tokens.aws.handover import Renewer
from vcc_tokens.aws.table import TokenTable
from vcc_tokens.values.backoff import Failure
from vcc_tokens.values.errors import UpstreamError
from vcc_tokens.values.tokens import NOTHING_CACHED, CachedToken, CacheEntry, Key, Lease
from vcc_tokens.vcc.token_answer import IssuedToken
from vcc_tokens.vcc.upstream import TokenEndpoint


class _Versions(dict[Key, CacheEntry]):
    """Each key's item, and every version of it with the time it was written."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock
        self.written: dict[Key, list[tuple[float, CacheEntry]]] = {}

    def __setitem__(self, key: Key, entry: CacheEntry) -> None:
        self.written.setdefault(key, []).append((self.clock(), entry))
        super().__setitem__(key, entry)

    def as_of(self, key: Key, when: float) -> CacheEntry | None:
        versions = [entry for at, entry in self.written.get(key, []) if at <= when]
        return versions[-1] if versions else None


class MemoryTokenTable(TokenTable):
    """The DynamoDB cache's conditional semantics, on a dict. With a `lag` (seconds on
    `clock`), an eventually consistent read returns the item as it was that long ago, as
    DynamoDB may for a moment after a write; a consistent read always returns the latest."""

    def __init__(self, *, lag: float = 0.0, clock: Callable[[], float] = lambda: 0.0) -> None:
        self.items = _Versions(clock)
        self.lag = lag

    def get(self, key: Key, *, consistent: bool = False) -> CacheEntry | None:
        if consistent or not self.lag:
            return self.items.get(key)
        return self.items.as_of(key, self.items.clock() - self.lag)

    def acquire_lease(self, lease: Lease, now: float) -> bool:
        entry = self.items.get(lease.key) or CacheEntry.empty(lease.key)
        if entry.lease is not None and entry.lease.held(now):
            return False
        if entry.blocking(now) is not None:
            return False
        self.items[lease.key] = dataclasses.replace(entry, lease=lease)
        return True

    def claim_lease(self, handed: Lease, claimed: Lease, now: float) -> bool:
        entry = self.items.get(handed.key)
        if entry is None or not entry.leased_to(handed.owner) or not entry.lease.held(now):
            return False
        self.items[handed.key] = dataclasses.replace(entry, lease=claimed)
        return True

    def release_lease(self, lease: Lease, failure: Failure | None = None) -> None:
        entry = self.items.get(lease.key)
        if entry is not None and entry.leased_to(lease.owner):
            remembered = failure if failure is not None else entry.failure  # as DynamoDB's
            self.items[lease.key] = dataclasses.replace(entry, lease=None, failure=remembered)

    def put(
        self,
        token: CachedToken,
        *,
        replacing: str | None = None,
        requested_at: float | None = None,
        releasing: Lease | None = None,
    ) -> bool:
        entry = self.items.get(token.key) or CacheEntry.empty(token.key)
        current = entry.token
        if releasing is not None:
            if not entry.leased_to(releasing.owner):
                return False
            entry = dataclasses.replace(entry, lease=None)
        if replacing is not None:
            if entry.replaced_sha256() not in (replacing, NOTHING_CACHED):
                return False
        elif current is not None and current.expires_at > token.expires_at:
            return False
        entry = dataclasses.replace(
            entry, token=token, failure=None, stored_sha256=token.sha256, unreadable=False
        )
        if replacing is not None:
            entry = dataclasses.replace(entry, refreshed_at=token.fetched_at)
        if requested_at is not None:
            entry = dataclasses.replace(entry, last_requested_at=requested_at)
        self.items[token.key] = entry
        return True

    def touch(self, key: Key, now: float) -> None:
        entry = self.items.get(key)
        if entry is not None:
            self.items[key] = dataclasses.replace(entry, last_requested_at=now)

    def entries(self) -> Iterator[CacheEntry]:
        yield from list(self.items.values())


class FixedCredentials(CredentialStore):
    """One current secret per credential, nothing pending or previous."""

    def read(
        self, region: str, credential: str, stage: Stage = "AWSCURRENT", *, fresh: bool = False
    ) -> ClientCredentials | None:
        return ClientCredentials(f"{region}-id", "secret") if stage == "AWSCURRENT" else None

    def promote(self, region: str, credential: str, pending: str, current: str) -> None:
        raise NotImplementedError("nothing is pending here")

    def secret_name(self, region: str, credential: str) -> str:
        return f"fixed/{region}/{credential}"


@dataclass
class CountingEndpoint(TokenEndpoint):
    """Issues token-1, token-2, ...; raises `failure` instead while it is set."""

    expires_in: int = 900
    failure: UpstreamError | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)
    budgets: list[float] = field(default_factory=list)

    def fetch(
        self,
        region: str,
        scope: str,
        credentials: ClientCredentials,
        budget: float,
    ) -> IssuedToken:
        self.calls.append((region, scope))
        self.budgets.append(budget)
        if self.failure is not None:
            raise self.failure
        return IssuedToken(f"token-{len(self.calls)}", self.expires_in)


@dataclass
class FakeClock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class RecordingRenewer(Renewer):
    """Records what the vending instance handed over; `failure` makes the hand-over fail."""

    requests: list[tuple[str, str, str]] = field(default_factory=list)
    failure: Exception | None = None

    def request(self, region: str, scope: str, lease_owner: str) -> None:
        if self.failure is not None:
            raise self.failure
        self.requests.append((region, scope, lease_owner))
