"""The token table's item attributes: the service writes and reads them (vcc_tokens.aws.table,
vcc_tokens.aws.health) and `vcc-token admin status` and `purge` read them
(vcc_token_client.admin.status) by these names only (a test refuses them spelled out there).

`KeyState` names what a key's item says at a time: the engine works it out for a caller
(vcc_tokens.vending.freshness.key_state), and `admin status` shows the states the item alone
tells by the same names.

One item per key (`CACHE_KEY` is `CacheKey.text()`) holds its sealed token, the lease, the
failure memory and when callers last asked; one item per credential (`health_key`) holds its
health. The table's key schema and TTL attribute are template.yaml's (a test ties them here).
"""

from __future__ import annotations

from enum import StrEnum


class Attribute(StrEnum):
    CACHE_KEY = "cache_key"  # the partition key
    REGION = "region"
    SCOPE = "scope"
    TTL = "ttl"  # DynamoDB's TTL deletes the item some time after this (epoch seconds)
    # the token, sealed (vcc_tokens.aws.sealing), and what it is bound to
    SEALED = "access_token_ciphertext"
    DATA_KEY = "data_key"
    TOKEN_TYPE = "token_type"
    TOKEN_SHA256 = "token_sha256"
    FETCHED_AT = "fetched_at"
    EXPIRES_AT = "expires_at"
    LAST_REQUESTED_AT = "last_requested_at"
    REFRESHED_AT = "refreshed_at"
    # the lease: who may fetch the key's token, until when
    LEASE_OWNER = "lease_owner"
    LEASE_UNTIL = "lease_until"
    # the failure memory
    RETRY_AT = "retry_at"
    FAILURES = "failures"
    FAILURE_CODE = "failure_code"
    FAILURE_MESSAGE = "failure_message"
    # a credential's health item
    LAST_GRANT_AT = "last_grant_at"
    LAST_REJECTION_AT = "last_rejection_at"
    LAST_REJECTION_CODE = "last_rejection_code"
    LAST_ROTATION_AT = "last_rotation_at"
    LAST_ROTATION = "last_rotation"
    LAST_ROTATION_VERSION = "last_rotation_version"
    ROTATION_CLAIM = "rotation_claim"
    ROTATION_CLAIM_UNTIL = "rotation_claim_until"


# DynamoDB's reserved words among them: an expression names them through a placeholder (#name)
RESERVED = frozenset({Attribute.REGION, Attribute.SCOPE, Attribute.TTL})


class KeyState(StrEnum):
    """What a key's item says at a time (for a caller's min_ttl, by every clock within the skew)."""

    FRESH = "fresh"  # usable, outside the renewal margin: serve it
    DUE = "due"  # usable, inside the margin: serve it, and one instance renews it meanwhile
    # usable, inside the margin, but a remembered failure forbids renewing it for now: serve it,
    # renew nothing
    DUE_BACKING_OFF = "due, backing off"
    BACKING_OFF = "backing off"  # not usable; a remembered failure forbids fetching for now
    BELOW_MIN_TTL = "below min_ttl"  # valid, but short of min_ttl (or the clock skew): fetch
    EXPIRED = "expired"  # past its expiry (DynamoDB's TTL has not removed it yet): fetch
    UNREADABLE = "unreadable"  # its token does not parse or open: fetch, replacing it
    ABSENT = "absent"  # nothing cached: fetch

    @property
    def usable(self) -> bool:
        """Its token is served as it is."""
        return self in (KeyState.FRESH, KeyState.DUE, KeyState.DUE_BACKING_OFF)


# What `admin status` says of a usable token: fresh, due or due backing off, as the functions'
# renewal margin decides (a setting the item does not hold)
USABLE = "usable"
