"""The refresher function's events: its schedule's, renew one key under a lease (from a
vending instance, asynchronously) and rotate one credential (`vcc-token admin rotate`)."""

from __future__ import annotations

# The scheduled refresher's period unless the stack's RefreshRateMinutes says otherwise (the
# template's default is tied to it by a test)
DEFAULT_RENEW_RATE_MINUTES = 5
# How long one refresher run may take (the template's RefreshFunction Timeout, tied by a test):
# what a synchronous invocation of it (`admin rotate`, a redrive) must wait for
REFRESHER_TIMEOUT_SECONDS = 120
# The scheduled run's summary line (its fields: renewed, fresh, idle, unreadable, orphaned and
# failed, "<key>: <reason>" per failed key), which `vcc-token admin smoke --stack` reads back
RENEWAL_SUMMARY = "scheduled renewal finished"
# The schedule's event (the template's RefreshFunctionRenewal target Input, tied by a test): a
# scheduled run, which `vcc-token admin smoke --run-refresher` also sends right after a deploy
SCHEDULED_RUN = {"source": "vcc-token-vending.scheduler", "detail-type": "Scheduled token renewal"}
RENEW = "renew"
ROTATE = "rotate"
RENEW_SHAPE = '{"renew": {"region", "scope", "lease_owner"}}'
ROTATE_SHAPE = '{"rotate": {"region", "credential"[, "scope"][, "version"]}}'


def renewal_event(region: str, scope: str, lease_owner: str) -> dict[str, dict[str, str]]:
    return {RENEW: {"region": region, "scope": scope, "lease_owner": lease_owner}}


def rotation_event(
    region: str, credential: str, scope: str | None = None, version: str | None = None
) -> dict[str, dict[str, str]]:
    """`version`: the AWSPENDING version to prove (what `admin rotate` stored)."""
    body = {"region": region, "credential": credential}
    body |= {name: value for name, value in (("scope", scope), ("version", version)) if value}
    return {ROTATE: body}
