"""The token table: one DynamoDB item per key (vcc_tokens.values.tokens.Key). It only reads and
writes, each write under a condition; what to read and write is the engine's
(vcc_tokens.vending.cache is its only caller).

The token is stored sealed (vcc_tokens.aws.sealing: a KMS data key and AES-GCM), bound to the item's
cache key, token type, fetched_at and expires_at: a ciphertext copied into another item, or an
item whose expiry was altered, does not open, and such an item is treated as holding no token
(the token is fetched again, never served).

Besides the token, an item carries the single-flight lease (`lease_owner`, `lease_until`), the
failure memory (`retry_at`, `failures`, `failure_code`, `failure_message`:
vcc_tokens.values.backoff) and `last_requested_at`, which the scheduled refresher reads to leave
idle keys to expire.
DynamoDB's TTL deletes expired items up to about 48 hours late, so expiry is always checked by
the reader (`CachedToken.seconds_left`), never assumed from the item's presence.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from vcc_token_contract.item import Attribute as Item
from vcc_token_contract.metrics import Metric
from vcc_token_contract.names import health_credential
from vcc_tokens.aws.clients import calling
from vcc_tokens.aws.sealing import Sealed, TokenCipher
from vcc_tokens.observability import MetricUnit, logger, metrics
from vcc_tokens.values.backoff import Failure
from vcc_tokens.values.tokens import CachedToken, CacheEntry, Key, Lease

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import UpdateItemInputTypeDef

# A lease-only item (its holder died before storing a token) is removed by TTL a day later.
ORPHAN_LEASE_TTL = 86_400
# The largest token the cache takes: a DynamoDB item holds at most 400 KB, and the item's other
# attributes (the sealed data key, the hash, the failure memory) need a few hundred bytes.
MAX_TOKEN_BYTES = 384 * 1024
FAILURE_FIELDS = f"{Item.RETRY_AT}, {Item.FAILURES}, {Item.FAILURE_CODE}, {Item.FAILURE_MESSAGE}"
# put: the token sealed, what it is bound to, and its expiry as the item's TTL
STORE_TOKEN = (
    f"SET #{Item.REGION} = :region, #{Item.SCOPE} = :scope, {Item.SEALED} = :sealed, "
    f"{Item.DATA_KEY} = :data_key, {Item.TOKEN_TYPE} = :token_type, "
    f"{Item.TOKEN_SHA256} = :sha256, {Item.FETCHED_AT} = :fetched_at, "
    f"{Item.EXPIRES_AT} = :expires_at, #{Item.TTL} = :expires_at"
)
NO_LATER_TOKEN = f"attribute_not_exists({Item.EXPIRES_AT}) OR {Item.EXPIRES_AT} <= :expires_at"
STILL_THE_REPLACED_TOKEN = (
    f"attribute_not_exists({Item.TOKEN_SHA256}) OR {Item.TOKEN_SHA256} = :replacing"
)
REFRESHED = f"{Item.REFRESHED_AT} = :fetched_at"


class TokenTable(ABC):
    """Each method raises DependencyError (vcc_tokens.aws.clients) if the store cannot be
    reached."""

    @abstractmethod
    def get(self, key: Key, *, consistent: bool = False) -> CacheEntry | None:
        """The key's item, its token expired or not, or None."""

    @abstractmethod
    def acquire_lease(self, lease: Lease, now: float) -> bool:
        """Take the key's lease if nobody holds an unexpired one and no remembered failure
        forbids fetching before a later time."""

    @abstractmethod
    def claim_lease(self, handed: Lease, claimed: Lease, now: float) -> bool:
        """Take over `handed` (still held by its owner, unexpired) as `claimed`: one claimant
        wins, so a renewal delivered twice fetches once."""

    @abstractmethod
    def release_lease(self, lease: Lease, failure: Failure | None = None) -> None:
        """Give the lease back, if its owner still holds it, recording `failure` if the fetch
        failed."""

    @abstractmethod
    def put(
        self,
        token: CachedToken,
        *,
        replacing: str | None = None,
        requested_at: float | None = None,
        releasing: Lease | None = None,
    ) -> bool:
        """Store the token and forget any failure. With `replacing` (a refresh: the SHA-256 of
        the token it replaces, or NOTHING_CACHED), only while the cached token is that one (or
        none), and the time is recorded as `refreshed_at`; otherwise only if no cached token
        expires later. False if refused. `requested_at`: a caller asked for it then (as `touch`
        records). `releasing`: give this lease back in the same write, which is refused (False,
        nothing written) unless its owner still holds it."""

    @abstractmethod
    def touch(self, key: Key, now: float) -> None:
        """Record that a caller asked for the key (for the refresher's idle rule)."""

    @abstractmethod
    def entries(self) -> Iterator[CacheEntry]:
        """Every key in the cache (the refresher walks them)."""


class DynamoDBTokenTable(TokenTable):
    def __init__(self, client: DynamoDBClient, table_name: str, cipher: TokenCipher) -> None:
        self._client = client
        self._table = table_name
        self._cipher = cipher

    def get(self, key: Key, *, consistent: bool = False) -> CacheEntry | None:
        with calling("DynamoDB", self._table):
            answer = self._client.get_item(
                TableName=self._table, Key=_item_key(key), ConsistentRead=consistent
            )
        item = answer.get("Item")
        return _entry(item, self._cipher) if item else None

    def acquire_lease(self, lease: Lease, now: float) -> bool:
        return self._update(
            lease.key,
            f"SET {Item.LEASE_OWNER} = :owner, {Item.LEASE_UNTIL} = :until, "
            f"#{Item.REGION} = :region, #{Item.SCOPE} = :scope, "
            f"#{Item.TTL} = if_not_exists(#{Item.TTL}, :orphan_ttl)",
            condition=f"(attribute_not_exists({Item.LEASE_UNTIL}) OR {Item.LEASE_UNTIL} < :now) "
            f"AND (attribute_not_exists({Item.RETRY_AT}) OR {Item.RETRY_AT} <= :now)",
            values={
                ":owner": {"S": lease.owner},
                ":until": {"N": _number(lease.until)},
                ":now": {"N": _number(now)},
                ":region": {"S": lease.key.region},
                ":scope": {"S": lease.key.scope},
                ":orphan_ttl": {"N": str(int(now) + ORPHAN_LEASE_TTL)},
            },
        )

    def claim_lease(self, handed: Lease, claimed: Lease, now: float) -> bool:
        return self._update(
            handed.key,
            f"SET {Item.LEASE_OWNER} = :claimant, {Item.LEASE_UNTIL} = :until",
            condition=f"{Item.LEASE_OWNER} = :owner AND {Item.LEASE_UNTIL} >= :now",
            values={
                ":claimant": {"S": claimed.owner},
                ":until": {"N": _number(claimed.until)},
                ":owner": {"S": handed.owner},
                ":now": {"N": _number(now)},
            },
        )

    def release_lease(self, lease: Lease, failure: Failure | None = None) -> None:
        # Refused if our lease expired and someone else took it over: it is theirs now.
        values: dict[str, Any] = {":owner": {"S": lease.owner}}
        expression = f"REMOVE {Item.LEASE_OWNER}, {Item.LEASE_UNTIL}"
        if failure is not None:
            expression = (
                f"SET {Item.RETRY_AT} = :retry_at, {Item.FAILURES} = :failures, "
                f"{Item.FAILURE_CODE} = :code, {Item.FAILURE_MESSAGE} = :message " + expression
            )
            values |= {
                ":retry_at": {"N": _number(failure.retry_at)},
                ":failures": {"N": str(failure.count)},
                ":code": {"S": failure.code},
                ":message": {"S": failure.message},
            }
        self._update(lease.key, expression, condition=f"{Item.LEASE_OWNER} = :owner", values=values)

    def put(
        self,
        token: CachedToken,
        *,
        replacing: str | None = None,
        requested_at: float | None = None,
        releasing: Lease | None = None,
    ) -> bool:
        sealed = self._cipher.seal(token.access_token, token.binding)
        values: dict[str, Any] = {
            ":region": {"S": token.region},
            ":scope": {"S": token.scope},
            ":sealed": {"B": sealed.ciphertext},
            ":data_key": {"B": sealed.data_key},
            ":token_type": {"S": token.token_type},
            ":sha256": {"S": token.sha256},
            ":fetched_at": {"N": str(token.fetched_at)},
            ":expires_at": {"N": str(token.expires_at)},
        }
        expression = STORE_TOKEN
        if requested_at is not None:
            expression += f", {Item.LAST_REQUESTED_AT} = :requested_at"
            values[":requested_at"] = {"N": _number(requested_at)}
        expression += f" REMOVE {FAILURE_FIELDS}"
        condition = NO_LATER_TOKEN
        if replacing is not None:
            condition = STILL_THE_REPLACED_TOKEN
            values[":replacing"] = {"S": replacing}
            expression = expression.replace(" REMOVE", f", {REFRESHED} REMOVE")
        if releasing is not None:
            expression += f", {Item.LEASE_OWNER}, {Item.LEASE_UNTIL}"
            condition = f"({condition}) AND {Item.LEASE_OWNER} = :owner"
            values[":owner"] = {"S": releasing.owner}
        return self._update(token.key, expression, condition, values)

    def touch(self, key: Key, now: float) -> None:
        # Refused when nothing is cached for the key: nothing to keep warm.
        self._update(
            key,
            f"SET {Item.LAST_REQUESTED_AT} = :now",
            condition=f"attribute_exists({Item.CACHE_KEY})",
            values={":now": {"N": _number(now)}},
        )

    def _update(self, key: Key, expression: str, condition: str, values: dict[str, Any]) -> bool:
        """One conditional write to the key's item; False if its condition refused it."""
        request: UpdateItemInputTypeDef = {
            "TableName": self._table,
            "Key": _item_key(key),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        # Reserved words need placeholders; DynamoDB refuses placeholders an expression lacks.
        names = {
            name: name[1:]
            for name in (f"#{Item.REGION}", f"#{Item.SCOPE}", f"#{Item.TTL}")
            if name in expression
        }
        if names:
            request["ExpressionAttributeNames"] = names
        with calling("DynamoDB", self._table):
            try:
                self._client.update_item(**request)
            except self._client.exceptions.ConditionalCheckFailedException:
                return False
        return True

    def entries(self) -> Iterator[CacheEntry]:
        pages = self._client.get_paginator("scan").paginate(
            TableName=self._table, ConsistentRead=True
        )
        with calling("DynamoDB", self._table):
            items = [item for page in pages for item in page["Items"]]
        for item in items:
            if health_credential(item[Item.CACHE_KEY]["S"]) is None:  # not a credential's health
                yield _entry(item, self._cipher)


def _entry(item: dict[str, Any], cipher: TokenCipher) -> CacheEntry:
    """The item as the engine sees it. An item is untrusted input: whatever in it does not
    parse is treated as absent (a token that does not parse or open is unreadable: never
    served, replaced by the next fetch), never an error."""
    key = Key.from_cache_key(item[Item.CACHE_KEY]["S"])
    owner = _text(item, Item.LEASE_OWNER)
    try:
        token = _token(item, key, cipher)
    except (KeyError, TypeError, ValueError, OverflowError):
        token = None
        _unreadable(key, "a cached item does not parse; fetching anew")
    return CacheEntry(
        region=key.region,
        scope=key.scope,
        credential=key.credential,
        token=token,
        lease=Lease(key, owner, _float(item, Item.LEASE_UNTIL)) if owner is not None else None,
        last_requested_at=_float(item, Item.LAST_REQUESTED_AT),
        refreshed_at=_float(item, Item.REFRESHED_AT),
        failure=_failure(item),
        stored_sha256=_text(item, Item.TOKEN_SHA256),
        unreadable=token is None and Item.SEALED in item,
    )


def _unreadable(key: Key, message: str) -> None:
    metrics.add_metric(name=Metric.CACHE_DECRYPT_FAILURES, unit=MetricUnit.Count, value=1)
    logger.warning(message, extra={Item.CACHE_KEY: key.cache_key})


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else None


def _float(item: dict[str, Any], name: str, default: float = 0.0) -> float:
    try:
        value = float(item[name]["N"])
    except (KeyError, TypeError, ValueError):
        return default
    return value if value == value and abs(value) != float("inf") else default  # not NaN, inf


def _token(item: dict[str, Any], key: Key, cipher: TokenCipher) -> CachedToken | None:
    """The item's token if it opens for this item's key and metadata; else None."""
    if Item.SEALED not in item or Item.DATA_KEY not in item:
        return None  # nothing stored (or a format this version does not read)
    sealed_for = CachedToken(
        region=key.region,
        scope=key.scope,
        credential=key.credential,
        access_token="",
        token_type=item[Item.TOKEN_TYPE]["S"],
        fetched_at=int(item[Item.FETCHED_AT]["N"]),
        expires_at=int(item[Item.EXPIRES_AT]["N"]),
    )
    sealed = Sealed(item[Item.DATA_KEY]["B"], item[Item.SEALED]["B"])
    access_token = cipher.open(sealed, sealed_for.binding)
    if access_token is None:
        _unreadable(sealed_for.key, "a cached token does not open for its item; fetching anew")
        return None
    return dataclasses.replace(sealed_for, access_token=access_token)


def _item_key(key: Key) -> dict[str, Any]:
    return {Item.CACHE_KEY: {"S": key.cache_key}}


def _failure(item: dict[str, Any]) -> Failure | None:
    retry_at = _float(item, Item.RETRY_AT, default=-1.0)
    if retry_at < 0:
        return None  # none remembered (or one that does not parse: nothing to obey)
    return Failure(
        code=_text(item, Item.FAILURE_CODE) or "upstream_error",
        message=_text(item, Item.FAILURE_MESSAGE) or "the token endpoint failed",
        retry_at=retry_at,
        count=max(1, int(_float(item, Item.FAILURES, 1.0))),
    )


def _number(value: float) -> str:
    return f"{value:.3f}"
