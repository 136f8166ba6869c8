"""The token cache: one item per (region, scope).

DynamoDB's TTL deletes expired items up to about 48 hours late, so expiry is always checked by
the reader (`CachedToken.seconds_left`), never assumed from the item's presence.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


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

    def seconds_left(self, now: float) -> int:
        return max(0, int(self.expires_at - now))


def cache_key(region: str, scope: str) -> str:
    return f"{region}#{scope}"


class TokenCache(ABC):
    @abstractmethod
    def get(self, region: str, scope: str) -> CachedToken | None:
        """The stored token for the key, expired or not, or None."""

    @abstractmethod
    def put(self, token: CachedToken) -> None:
        """Store the token, replacing what the key held."""


class DynamoDBTokenCache(TokenCache):
    """Items: cache_key (hash key), region, scope, access_token, token_type, fetched_at,
    expires_at and `ttl` (epoch seconds; the table's TimeToLiveSpecification attribute)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, region: str, scope: str) -> CachedToken | None:
        answer = self._client.get_item(
            TableName=self._table, Key={"cache_key": {"S": cache_key(region, scope)}}
        )
        item = answer.get("Item")
        if item is None:
            return None
        return CachedToken(
            region=item["region"]["S"],
            scope=item["scope"]["S"],
            access_token=item["access_token"]["S"],
            token_type=item["token_type"]["S"],
            fetched_at=int(item["fetched_at"]["N"]),
            expires_at=int(item["expires_at"]["N"]),
        )

    def put(self, token: CachedToken) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "cache_key": {"S": token.key},
                "region": {"S": token.region},
                "scope": {"S": token.scope},
                "access_token": {"S": token.access_token},
                "token_type": {"S": token.token_type},
                "fetched_at": {"N": str(token.fetched_at)},
                "expires_at": {"N": str(token.expires_at)},
                "ttl": {"N": str(token.expires_at)},
            },
        )
