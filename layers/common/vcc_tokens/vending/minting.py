"""Minting: a new token from VCC for a key, within a time budget, aware of secret rotation."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from vcc_tokens.credentials import CredentialStore
from vcc_tokens.errors import UpstreamError, UpstreamRejectedCredentials
from vcc_tokens.observability import MetricUnit, logger, metrics
from vcc_tokens.tokens import CachedToken, Key
from vcc_tokens.upstream import IssuedToken, TokenEndpoint


@dataclass
class Minter:
    credentials: CredentialStore
    upstream: TokenEndpoint
    clock: Callable[[], float]

    def mint(self, key: Key, budget: float) -> CachedToken:
        """A new token from VCC within `budget` seconds (retries included); counted and timed."""
        fetched_at = int(self.clock())  # before the request: the token expires no earlier
        started = time.perf_counter()
        try:
            issued = self._fetch_rotation_aware(key, budget)
        except UpstreamError as error:
            metrics.add_metric(name="UpstreamErrors", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name=f"UpstreamErrors_{error.kind}", unit=MetricUnit.Count, value=1)
            raise
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(
                name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms
            )
        metrics.add_metric(name="UpstreamFetches", unit=MetricUnit.Count, value=1)
        return CachedToken(
            region=key.region,
            scope=key.scope,
            access_token=issued.access_token,
            token_type="Bearer",
            fetched_at=fetched_at,
            expires_at=fetched_at + issued.expires_in,
        )

    def _fetch_rotation_aware(self, key: Key, budget: float) -> IssuedToken:
        """Fetch; if VCC rejects the credentials, re-read the secret past the cache and retry
        once, only if it changed (the secret was rotated since it was cached)."""
        credentials = self.credentials.get(key.region)
        try:
            return self.upstream.fetch(key.region, key.scope, credentials, budget)
        except UpstreamRejectedCredentials:
            current = self.credentials.get(key.region, fresh=True)
            if current == credentials:
                metrics.add_metric(name="CredentialsRejected", unit=MetricUnit.Count, value=1)
                raise
            logger.info("the region's secret changed since it was cached; retrying with it")
            return self.upstream.fetch(key.region, key.scope, current, budget)
