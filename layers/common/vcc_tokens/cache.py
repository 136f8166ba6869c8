"""The token cache: one DynamoDB item per (region, scope).

The token is stored encrypted under a customer-managed KMS key, with an encryption context bound
to the item's cache key: a ciphertext copied into another item, or altered, does not decrypt,
and such an item is treated as holding no token (the token is fetched again, never served).

Besides the token, an item carries the single-flight lease (`lease_owner`, `lease_until`) and
`last_requested_at`, which the scheduled refresher reads to leave idle keys to expire.
DynamoDB's TTL deletes expired items up to about 48 hours late, so expiry is always checked by
the reader (`CachedToken.seconds_left`), never assumed from the item's presence.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vcc_tokens.observability import MetricUnit, logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import UpdateItemInputTypeDef
    from mypy_boto3_kms import KMSClient

# A lease-only item (its holder died before storing a token) is removed by TTL a day later.
ORPHAN_LEASE_TTL = 86_400


@dataclass(frozen=True)
class CachedToken:
    region: str
    scope: str
    access_token: str = field(repr=False)
    token_type: str
    fetched_at: int  # epoch seconds, taken just before the token request was sent
    expires_at: int  # fetched_at + expires_in

    @property
    def key(self) -> str:
        return cache_key(self.region, self.scope)

    @property
    def lifetime(self) -> int:
        return self.expires_at - self.fetched_at

    @property
    def sha256(self) -> str:
        return token_sha256(self.access_token)

    def seconds_left(self, now: float) -> int:
        return max(0, int(self.expires_at - now))


@dataclass(frozen=True)
class CacheEntry:
    region: str
    scope: str
    token: CachedToken | None
    lease_owner: str | None = None
    lease_until: float = 0.0
    last_requested_at: float = 0.0


def cache_key(region: str, scope: str) -> str:
    return f"{region}#{scope}"


def token_sha256(access_token: str) -> str:
    """What callers quote to say which token VCC rejected (the token itself never travels back)."""
    return hashlib.sha256(access_token.encode("utf-8")).hexdigest()


class TokenCipher(ABC):
    @abstractmethod
    def seal(self, access_token: str, key: str) -> bytes:
        """Encrypt a token for the cache item `key`."""

    @abstractmethod
    def open(self, ciphertext: bytes, key: str) -> str | None:
        """The token, or None if the ciphertext was not sealed for `key` by our key (or altered)."""


class KmsTokenCipher(TokenCipher):
    PURPOSE = "vcc-token-cache"

    def __init__(self, client: KMSClient, key_id: str) -> None:
        self._client = client
        self._key_id = key_id

    def _context(self, key: str) -> dict[str, str]:
        return {"purpose": self.PURPOSE, "cache_key": key}

    def seal(self, access_token: str, key: str) -> bytes:
        answer = self._client.encrypt(
            KeyId=self._key_id,
            Plaintext=access_token.encode("utf-8"),
            EncryptionContext=self._context(key),
        )
        return answer["CiphertextBlob"]

    def open(self, ciphertext: bytes, key: str) -> str | None:
        try:
            answer = self._client.decrypt(
                KeyId=self._key_id, CiphertextBlob=ciphertext, EncryptionContext=self._context(key)
            )
        except self._client.exceptions.InvalidCiphertextException:
            return None
        return answer["Plaintext"].decode("utf-8")


class TokenCache(ABC):
    @abstractmethod
    def get(self, region: str, scope: str, *, consistent: bool = False) -> CacheEntry | None:
        """The key's item, its token expired or not, or None."""

    @abstractmethod
    def acquire_lease(self, region: str, scope: str, owner: str, now: float, until: float) -> bool:
        """Take the key's lease if nobody holds an unexpired one."""

    @abstractmethod
    def release_lease(self, region: str, scope: str, owner: str) -> None:
        """Give the lease back, if `owner` still holds it."""

    @abstractmethod
    def store(
        self,
        token: CachedToken,
        *,
        replacing: str | None = None,
        requested_at: float | None = None,
    ) -> bool:
        """Store the token. With `replacing` (a token's SHA-256), only while the cached token is
        that one (or none); otherwise only if no cached token expires later. False if refused.
        `requested_at`: a caller asked for it then (as `touch` records)."""

    @abstractmethod
    def touch(self, region: str, scope: str, now: float) -> None:
        """Record that a caller asked for the key (for the refresher's idle rule)."""

    @abstractmethod
    def entries(self) -> Iterator[CacheEntry]:
        """Every key in the cache (the refresher walks them)."""


class DynamoDBTokenCache(TokenCache):
    def __init__(self, client: DynamoDBClient, table_name: str, cipher: TokenCipher) -> None:
        self._client = client
        self._table = table_name
        self._cipher = cipher

    def _key(self, region: str, scope: str) -> dict[str, Any]:
        return {"cache_key": {"S": cache_key(region, scope)}}

    def get(self, region: str, scope: str, *, consistent: bool = False) -> CacheEntry | None:
        answer = self._client.get_item(
            TableName=self._table, Key=self._key(region, scope), ConsistentRead=consistent
        )
        item = answer.get("Item")
        return self._entry(item) if item else None

    def acquire_lease(self, region: str, scope: str, owner: str, now: float, until: float) -> bool:
        return self._update(
            region,
            scope,
            "SET lease_owner = :owner, lease_until = :until, #region = :region, "
            "#scope = :scope, #ttl = if_not_exists(#ttl, :orphan_ttl)",
            condition="attribute_not_exists(lease_until) OR lease_until < :now",
            values={
                ":owner": {"S": owner},
                ":until": {"N": _number(until)},
                ":now": {"N": _number(now)},
                ":region": {"S": region},
                ":scope": {"S": scope},
                ":orphan_ttl": {"N": str(int(now) + ORPHAN_LEASE_TTL)},
            },
        )

    def release_lease(self, region: str, scope: str, owner: str) -> None:
        # Refused if our lease expired and someone else took it over: it is theirs now.
        self._update(
            region,
            scope,
            "REMOVE lease_owner, lease_until",
            condition="lease_owner = :owner",
            values={":owner": {"S": owner}},
        )

    def store(
        self,
        token: CachedToken,
        *,
        replacing: str | None = None,
        requested_at: float | None = None,
    ) -> bool:
        values: dict[str, Any] = {
            ":region": {"S": token.region},
            ":scope": {"S": token.scope},
            ":sealed": {"B": self._cipher.seal(token.access_token, token.key)},
            ":token_type": {"S": token.token_type},
            ":sha256": {"S": token.sha256},
            ":fetched_at": {"N": str(token.fetched_at)},
            ":expires_at": {"N": str(token.expires_at)},
        }
        expression = (
            "SET #region = :region, #scope = :scope, access_token_ciphertext = :sealed, "
            "token_type = :token_type, token_sha256 = :sha256, fetched_at = :fetched_at, "
            "expires_at = :expires_at, #ttl = :expires_at"
        )
        if requested_at is not None:
            expression += ", last_requested_at = :requested_at"
            values[":requested_at"] = {"N": _number(requested_at)}
        if replacing is None:
            condition = "attribute_not_exists(expires_at) OR expires_at <= :expires_at"
        else:
            condition = "attribute_not_exists(token_sha256) OR token_sha256 = :replacing"
            values[":replacing"] = {"S": replacing}
        return self._update(token.region, token.scope, expression, condition, values)

    def touch(self, region: str, scope: str, now: float) -> None:
        # Refused when nothing is cached for the key: nothing to keep warm.
        self._update(
            region,
            scope,
            "SET last_requested_at = :now",
            condition="attribute_exists(cache_key)",
            values={":now": {"N": _number(now)}},
        )

    def _update(
        self, region: str, scope: str, expression: str, condition: str, values: dict[str, Any]
    ) -> bool:
        """One conditional write to the key's item; False if its condition refused it."""
        request: UpdateItemInputTypeDef = {
            "TableName": self._table,
            "Key": self._key(region, scope),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        # Reserved words need placeholders; DynamoDB refuses placeholders an expression lacks.
        names = {name: name[1:] for name in ("#region", "#scope", "#ttl") if name in expression}
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            self._client.update_item(**request)
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def entries(self) -> Iterator[CacheEntry]:
        for page in self._client.get_paginator("scan").paginate(
            TableName=self._table, ConsistentRead=True
        ):
            for item in page["Items"]:
                yield self._entry(item)

    def _entry(self, item: dict[str, Any]) -> CacheEntry:
        region, scope = item["region"]["S"], item["scope"]["S"]
        token = None
        if "access_token_ciphertext" in item:
            key = cache_key(region, scope)
            access_token = self._cipher.open(item["access_token_ciphertext"]["B"], key)
            if access_token is None:
                metrics.add_metric(name="CacheDecryptFailures", unit=MetricUnit.Count, value=1)
                logger.warning(
                    "a cached token does not decrypt for its key; fetching anew",
                    extra={"cache_key": key},
                )
            else:
                token = CachedToken(
                    region=region,
                    scope=scope,
                    access_token=access_token,
                    token_type=item["token_type"]["S"],
                    fetched_at=int(item["fetched_at"]["N"]),
                    expires_at=int(item["expires_at"]["N"]),
                )
        return CacheEntry(
            region=region,
            scope=scope,
            token=token,
            lease_owner=item.get("lease_owner", {}).get("S"),
            lease_until=float(item.get("lease_until", {}).get("N", 0)),
            last_requested_at=float(item.get("last_requested_at", {}).get("N", 0)),
        )


def _number(value: float) -> str:
    return f"{value:.3f}"
