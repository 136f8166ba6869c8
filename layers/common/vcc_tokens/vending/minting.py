"""Minting: a new token from VCC for a key, within a time budget, aware of secret rotation."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from vcc_token_contract.metrics import Metric, by_kind
from vcc_tokens.aws.credentials import PREVIOUS, ClientCredentials, CredentialStore
from vcc_tokens.aws.health import HealthLog
from vcc_tokens.observability import MetricUnit, count_for_credential, logger, metrics
from vcc_tokens.values.errors import (
    CredentialsUnavailable,
    DependencyError,
    UpstreamError,
    UpstreamRefusedScope,
    UpstreamRejectedCredentials,
)
from vcc_tokens.values.tokens import CachedToken, Key
from vcc_tokens.vcc.token_answer import IssuedToken
from vcc_tokens.vcc.upstream import TokenEndpoint

MIN_SECOND_TRY_SECONDS = 0.5  # a rejected secret is not retried with less of the budget left


@dataclass
class Minter:
    credentials: CredentialStore
    upstream: TokenEndpoint
    clock: Callable[[], float]
    rotation_grace: float  # ROTATION_GRACE_SECONDS: how long VCC may take to accept a re-issue
    health: HealthLog | None = None  # the refresher records each credential's outcomes
    monotonic: Callable[[], float] = time.monotonic  # what a budget is measured on

    def mint(self, key: Key, budget: float) -> CachedToken:
        """A new token from VCC within `budget` seconds (retries included); counted and timed."""
        fetched_at = int(self.clock())  # before the request: the token expires no earlier
        started = time.perf_counter()
        try:
            issued = self._fetch_rotation_aware(key, budget)
        except UpstreamError as error:
            metrics.add_metric(name=Metric.UPSTREAM_ERRORS, unit=MetricUnit.Count, value=1)
            metrics.add_metric(
                name=by_kind(Metric.UPSTREAM_ERRORS, error.kind), unit=MetricUnit.Count, value=1
            )
            if isinstance(error, UpstreamRejectedCredentials | UpstreamRefusedScope):
                self._rejected(key, error)
            raise
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(
                name=Metric.UPSTREAM_LATENCY, unit=MetricUnit.Milliseconds, value=elapsed_ms
            )
        metrics.add_metric(name=Metric.UPSTREAM_FETCHES, unit=MetricUnit.Count, value=1)
        if self.health is not None:
            self.health.granted(key.region, key.credential, self.clock())
        return CachedToken(
            region=key.region,
            scope=key.scope,
            access_token=issued.access_token,
            token_type="Bearer",
            fetched_at=fetched_at,
            expires_at=fetched_at + issued.expires_in,
            credential=key.credential,
        )

    def _fetch_rotation_aware(self, key: Key, budget: float) -> IssuedToken:
        """Fetch with the credential's current secret. If VCC rejects it (invalid_client): the
        secret re-read past the cache, if it changed since (rotated meanwhile); else, within
        the rotation grace, the previous secret (VCC may still be propagating a re-issue).
        All of it within `budget`: a second request gets only what the first left."""
        ends = self.monotonic() + budget
        credentials = self.credentials.for_key(key)
        try:
            return self.upstream.fetch(key.region, key.scope, credentials, budget)
        except UpstreamRejectedCredentials as rejected:
            current = self.credentials.for_key(key, fresh=True)
            left = ends - self.monotonic()
            if left < MIN_SECOND_TRY_SECONDS:
                raise
            if current != credentials:
                logger.info("the credential's secret changed since it was cached; retrying")
                return self.upstream.fetch(key.region, key.scope, current, left)
            previous = self._previous(key, current)
            if previous is None:
                raise
            try:
                issued = self.upstream.fetch(key.region, key.scope, previous, left)
            except UpstreamRejectedCredentials:
                raise rejected from None
            count_for_credential(Metric.PREVIOUS_SECRET_USED, key.region, key.credential)
            logger.warning(
                "VCC rejected the current secret; served with the previous one (rotation grace)",
                extra={"credential": key.credential, "region": key.region},
            )
            return issued

    def _rejected(self, key: Key, rejection: UpstreamError) -> None:
        """VCC refused the credential itself: counted per credential (the health alarm)."""
        code = "invalid_scope" if isinstance(rejection, UpstreamRefusedScope) else "invalid_client"
        count_for_credential(Metric.CREDENTIAL_REJECTIONS, key.region, key.credential)
        if self.health is not None:
            self.health.rejected(key.region, key.credential, code, self.clock())

    def _previous(self, key: Key, current: ClientCredentials) -> ClientCredentials | None:
        """The previous secret, while the current one is younger than the grace period."""
        if current.created_at < self.clock() - self.rotation_grace:
            return None
        with suppress(DependencyError, CredentialsUnavailable):  # none usable: the rejection
            previous = self.credentials.read(key.region, key.credential, PREVIOUS)
            if previous is not None and previous.client_secret != current.client_secret:
                self.credentials.check_serves(key, previous)
                return previous
        return None
