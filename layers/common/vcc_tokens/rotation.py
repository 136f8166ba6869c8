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

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vcc_token_contract.events import ROTATE_SHAPE
from vcc_token_contract.metrics import Metric
from vcc_token_contract.names import DEFAULT_CREDENTIAL
from vcc_token_contract.vcc import REGIONS
from vcc_tokens.aws.credentials import PENDING, ClientCredentials, CredentialStore
from vcc_tokens.aws.health import HealthLog
from vcc_tokens.observability import count_for_credential, logger
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import (
    CredentialsUnavailable,
    InvalidRequest,
    UpstreamRejectedCredentials,
    VendError,
)
from vcc_tokens.values.token_request import check_region, parse_token_request
from vcc_tokens.values.tokens import Key
from vcc_tokens.vcc.upstream import TokenEndpoint

VERSION_ID = re.compile(r"[A-Za-z0-9-]{1,64}")  # Secrets Manager's VersionId (a UUID)
CLAIM_MARGIN_SECONDS = 10.0  # a claim outlives one proof (the upstream budget) by this much
CLAIM_POLL_SECONDS = 0.25  # how often a run waiting on another's proof looks again


@dataclass(frozen=True)
class RotationRequest:
    region: str
    credential: str
    scope: str | None  # the scope to prove the pending secret with; None: a routed one
    version: str | None = None  # the pending version the operator stored (admin rotate)


@dataclass(frozen=True)
class RotationResult:
    rotated: bool
    reason: str

    def answer(self) -> dict[str, object]:
        return {"rotated": self.rotated, "reason": self.reason}


def parse_rotation(payload: object, settings: Settings) -> RotationRequest:
    """A rotation event, validated: the region, a credential the routes know, an optional scope
    routed to it."""
    expected = f"a rotation event is {ROTATE_SHAPE}"
    if not isinstance(payload, dict) or not isinstance(payload.get("region"), str):
        raise InvalidRequest(expected)
    region = str(payload["region"])
    credential = payload.get("credential") or DEFAULT_CREDENTIAL
    scope, version = payload.get("scope"), payload.get("version")
    if not isinstance(credential, str) or not (scope is None or isinstance(scope, str)):
        raise InvalidRequest(expected)
    if version is not None and not (isinstance(version, str) and VERSION_ID.fullmatch(version)):
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
    return RotationRequest(region, credential, scope, version)


ALREADY_PROMOTED = "already promoted: another run proved it with VCC and made it current"


@dataclass(frozen=True)
class OneProofAtATime:
    """Two runs proving one pending version (an operator's `admin rotate` and a scheduled run)
    make one request to VCC: each claims the version on the credential's health item, as
    renewals claim a key's lease; the one refused waits for the other's answer."""

    health: HealthLog | None
    clock: Callable[[], float]
    sleep: Callable[[float], None]

    def claim(self, request: RotationRequest, version: str, budget: float) -> bool:
        if self.health is None:
            return True
        now = self.clock()
        until = now + budget + CLAIM_MARGIN_SECONDS
        return self.health.claim_rotation(request.region, request.credential, version, until, now)

    def answer_of_the_other_run(
        self, request: RotationRequest, version: str, credentials: CredentialStore
    ) -> RotationResult:
        """What the run holding the claim found, without a second request to VCC: the claim is
        watched (one read of the health item per poll, at most until it runs out), then the
        secret's current version read once (the claim ends only after the promotion)."""
        region, credential = request.region, request.credential
        state = None
        while self.health is not None:  # only a shared health log refuses a claim
            state = self.health.rotation_state(region, credential)
            if state is None or state.claimed_version != version:  # it has finished
                break
            if state.claimed_until < self.clock():  # it has died: its claim ran out
                break
            self.sleep(CLAIM_POLL_SECONDS)
        if credentials.current(region, credential, fresh=True).version == version:
            return RotationResult(True, ALREADY_PROMOTED)
        if state is not None and state.last_version == version and state.last_outcome:
            return RotationResult(False, state.last_outcome)  # it was refused: the same answer
        return RotationResult(
            False, "another run was proving this pending secret and did not finish: try again"
        )


class Rotation:
    def __init__(
        self,
        credentials: CredentialStore,
        upstream: TokenEndpoint,
        settings: Settings,
        health: HealthLog | None = None,
        clock: Callable[[], float] = time.time,
        scopes_in_use: Callable[[str, str], Iterable[str]] = lambda region, credential: (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.scopes_in_use = scopes_in_use  # the scopes cached tokens of a credential have
        self.credentials = credentials
        self.upstream = upstream
        self.settings = settings
        self.health = health
        self.clock = clock
        self.sleep = sleep

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
                except Exception as error:  # one credential's fault: the rest go on
                    outcomes[f"{region}/{credential}"] = self._unusable(request, error)
        return outcomes

    def _unusable(self, request: RotationRequest, error: Exception) -> str:
        """A pending secret that cannot be read or used: said once per run, counted for the
        credential; the next run (or an operator's fix) tries again."""
        if isinstance(error, VendError):
            reason = f"{error.code}: {error.message}"
        else:  # its message could hold anything: only its type
            reason = f"unexpected {type(error).__name__}"
        count_for_credential(Metric.ROTATIONS_REFUSED, request.region, request.credential)
        logger.warning("pending secret not usable", extra={"error": reason})
        return f"not promoted, still on the current secret: {reason}"

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
        current = self.credentials.current(region, credential, fresh=True)
        if request.version is not None and current.version == request.version:
            return RotationResult(True, ALREADY_PROMOTED)  # by a scheduled run, meanwhile
        if pending is None:
            return RotationResult(False, "nothing to rotate: the secret has no AWSPENDING version")
        if pending.version == current.version:
            return RotationResult(False, "AWSPENDING is already the current version")
        unlisted = self._unlisted_scopes(request, pending)
        if unlisted:  # refused before VCC is asked: promoted, it would fail these scopes' callers
            return self._refused(
                request,
                CredentialsUnavailable(
                    f"the pending secret does not list {', '.join(unlisted)}, routed to this "
                    'credential: add them to its "scopes"'
                ),
                pending.version,
            )
        claims = OneProofAtATime(self.health, self.clock, self.sleep)
        if not claims.claim(request, pending.version, self.settings.upstream_budget):
            return claims.answer_of_the_other_run(request, pending.version, self.credentials)
        try:
            key = Key(region, self._proof_scope(request, pending), credential)
            self.credentials.check_serves(key, pending)
            self.upstream.fetch(region, key.scope, pending, self.settings.upstream_budget)
            self.credentials.promote(region, credential, pending.version, current.version)
        except VendError as error:
            return self._refused(request, error, pending.version)
        outcome = f"promoted after VCC granted {key.scope!r} with it"
        self._record(request, outcome, pending.version)
        logger.info("pending secret promoted", extra={"region": region, "credential": credential})
        return RotationResult(True, outcome)

    def _unlisted_scopes(self, request: RotationRequest, pending: ClientCredentials) -> list[str]:
        """The scopes the credential must serve that the pending secret does not list: those
        routed to a named credential; for a default one whose secret lists scopes, those its
        cached tokens have."""
        routed = set(self.settings.credential_routes.scopes_of(request.region, request.credential))
        if not routed and pending.scopes is not None:
            routed = set(self.scopes_in_use(request.region, request.credential))
        return sorted(routed - (pending.scopes or frozenset()))

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

    def _refused(
        self, request: RotationRequest, error: VendError, version: str = ""
    ) -> RotationResult:
        reason = f"not promoted, still on the current secret: {error.code}: {error.message}"
        if isinstance(error, UpstreamRejectedCredentials):
            reason += (
                " (if VCC re-issued the secret moments ago it may still be propagating: "
                "try again in a few minutes)"
            )
        count_for_credential(Metric.ROTATIONS_REFUSED, request.region, request.credential)
        logger.warning("pending secret not promoted", extra={"error": error.code})
        self._record(request, reason, version)
        return RotationResult(False, reason)

    def _record(self, request: RotationRequest, outcome: str, version: str = "") -> None:
        if self.health is not None:
            self.health.rotated(request.region, request.credential, outcome, self.clock(), version)
