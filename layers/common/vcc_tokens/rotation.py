"""Rotation without downtime, on Secrets Manager's staging labels.

VCC issues secrets itself (re-issued in its admin portal, shown once), so nothing here creates or
sets one. An operator stores the re-issued secret as the credential's `AWSPENDING` version
(`vcc-token admin rotate`, which then invokes the refresher with
{"rotate": {"region", "credential"[, "scope"]}}). The refresher proves the pending secret with one
real token request, for a scope the credential serves, and only then makes it `AWSCURRENT` (the
old current becomes `AWSPREVIOUS`). If VCC refuses it, nothing changes: the service stays on the
current secret and the answer says why.

While VCC propagates a re-issue, it may still reject the new current secret: the minter then
falls back to `AWSPREVIOUS` for ROTATION_GRACE_SECONDS after the new version was stored
(vcc_tokens.vending.minting), counted as `PreviousSecretUsed` and logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vcc_tokens.config import REGIONS, Settings
from vcc_tokens.credentials import PENDING, ClientCredentials, CredentialStore
from vcc_tokens.errors import InvalidRequest, UpstreamRejectedCredentials, VendError
from vcc_tokens.health import HealthLog
from vcc_tokens.observability import count_for_credential, logger
from vcc_tokens.token_request import check_region, parse_token_request
from vcc_tokens.tokens import DEFAULT_CREDENTIAL, Key
from vcc_tokens.upstream import TokenEndpoint

ROTATE_EVENT = "rotate"


@dataclass(frozen=True)
class RotationRequest:
    region: str
    credential: str
    scope: str | None  # the scope to prove the pending secret with; None: the credential's first


@dataclass(frozen=True)
class RotationResult:
    rotated: bool
    reason: str

    def answer(self) -> dict[str, object]:
        return {"rotated": self.rotated, "reason": self.reason}


def parse_rotation(payload: object, settings: Settings) -> RotationRequest:
    """A rotation event, validated: the region, a credential the routes know, an optional scope
    routed to it."""
    expected = 'a rotation event is {"rotate": {"region", "credential"[, "scope"]}}'
    if not isinstance(payload, dict) or not isinstance(payload.get("region"), str):
        raise InvalidRequest(expected)
    region = str(payload["region"])
    credential = payload.get("credential") or DEFAULT_CREDENTIAL
    scope = payload.get("scope")
    if not isinstance(credential, str) or not (scope is None or isinstance(scope, str)):
        raise InvalidRequest(expected)
    check_region(region)
    known = settings.credential_routes.credentials(region)
    if credential not in known:
        raise InvalidRequest(
            f"{region} has no credential {credential[:40]!r}; it has: {', '.join(known)}"
        )
    if scope is not None:
        routed_to = parse_token_request(region, scope, None, settings).credential
        if routed_to != credential:
            raise InvalidRequest(f"scope {scope!r} of {region} is routed to {routed_to!r}")
    return RotationRequest(region, credential, scope)


class Rotation:
    def __init__(
        self,
        credentials: CredentialStore,
        upstream: TokenEndpoint,
        settings: Settings,
        health: HealthLog | None = None,
        clock: Callable[[], float] = time.time,
        scopes_in_use: Callable[[str, str], Iterable[str]] = lambda region, credential: (),
    ) -> None:
        self.scopes_in_use = scopes_in_use  # the scopes cached tokens of a credential have
        self.credentials = credentials
        self.upstream = upstream
        self.settings = settings
        self.health = health
        self.clock = clock

    def promote_everywhere(self) -> dict[str, str]:
        """The scheduled run: each credential with an AWSPENDING version (stored outside
        `admin rotate`, or refused before while VCC was still propagating it) is proven again;
        what became of each, by `region/credential`."""
        outcomes: dict[str, str] = {}
        for region in REGIONS:
            for credential in self.settings.credential_routes.credentials(region):
                request = RotationRequest(region, credential, None)
                try:
                    pending = self.credentials.read(region, credential, PENDING)
                    if pending is not None:
                        outcomes[f"{region}/{credential}"] = self._retried(request, pending)
                except VendError as error:  # the secret's reader reports it; the next run retries
                    logger.warning("pending secret not read", extra={"error": error.code})
        return outcomes

    def _retried(self, request: RotationRequest, pending: ClientCredentials) -> str:
        """Proven again while it is young enough that VCC may still be propagating it (at most
        ROTATION_GRACE_SECONDS / the refresher's period proofs per pending version); after that
        it waits for an operator."""
        if pending.created_at < self.clock() - self.settings.rotation_grace_seconds:
            return (
                "pending longer than ROTATION_GRACE_SECONDS: not proven again; store the "
                "secret anew with vcc-token admin rotate"
            )
        return self.promote(request, pending).reason

    def promote_pending(self, request: RotationRequest) -> RotationResult:
        pending = self.credentials.read(request.region, request.credential, PENDING)
        return self.promote(request, pending)

    def promote(
        self, request: RotationRequest, pending: ClientCredentials | None
    ) -> RotationResult:
        region, credential = request.region, request.credential
        if pending is None:
            return RotationResult(False, "nothing to rotate: the secret has no AWSPENDING version")
        current = self.credentials.current(region, credential, fresh=True)
        if pending.version == current.version:
            return RotationResult(False, "AWSPENDING is already the current version")
        try:
            key = Key(region, self._proof_scope(request, pending), credential)
            self.credentials.check_serves(key, pending)
            self.upstream.fetch(region, key.scope, pending, self.settings.upstream_budget)
        except VendError as error:
            return self._refused(request, error)
        self.credentials.promote(region, credential, pending.version, current.version)
        outcome = f"promoted after VCC granted {key.scope!r} with it"
        self._record(request, outcome)
        logger.info("pending secret promoted", extra={"region": region, "credential": credential})
        return RotationResult(True, outcome)

    def _proof_scope(self, request: RotationRequest, pending: ClientCredentials) -> str:
        if request.scope is not None:
            return request.scope
        routed = self.settings.credential_routes.scopes_of(request.region, request.credential)
        candidates = sorted(set(routed) & pending.scopes if pending.scopes else routed)
        if not candidates and pending.scopes:  # the default credential: any scope it lists
            candidates = sorted(pending.scopes & self.settings.allowed_scopes)
        if not candidates:  # nor does its secret: a scope it is known to get tokens for
            candidates = sorted(set(self.scopes_in_use(request.region, request.credential)))
        if not candidates:
            raise InvalidRequest(
                "the pending secret lists no scopes and no token of this credential is cached "
                "to prove it with: name a scope with --scope"
            )
        return candidates[0]

    def _refused(self, request: RotationRequest, error: VendError) -> RotationResult:
        reason = f"not promoted, still on the current secret: {error.code}: {error.message}"
        if isinstance(error, UpstreamRejectedCredentials):
            reason += (
                " (if VCC re-issued the secret moments ago it may still be propagating: "
                "try again in a few minutes)"
            )
        count_for_credential("RotationsRefused", request.region, request.credential)
        logger.warning("pending secret not promoted", extra={"error": error.code})
        self._record(request, reason)
        return RotationResult(False, reason)

    def _record(self, request: RotationRequest, outcome: str) -> None:
        if self.health is not None:
            self.health.rotated(request.region, request.credential, outcome, self.clock())
