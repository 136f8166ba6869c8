"""Credential health: per credential, the last grant VCC gave, the last rejection
(`invalid_client`, `invalid_scope`) and the last rotation's outcome, as the refresher saw them.

Stored in the token table as one item per credential, `health#<region>#<credential>` (the token
cache skips these items), read by `vcc-token admin status`. A rejection is also counted as
`CredentialRejections` with the credential as a dimension (vcc_tokens.observability), which the
template's alarm watches: the scheduled refresher renews ahead of expiry, so a rejected
credential raises the alarm while callers are still served valid tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from vcc_tokens.aws import calling
from vcc_tokens.errors import DependencyError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HEALTH_PREFIX = "health#"


def health_key(region: str, credential: str) -> str:
    return f"{HEALTH_PREFIX}{region}#{credential}"


def credential_of(cache_key: str) -> str | None:
    """`region/credential` for a health item's key; None for any other item (a token's)."""
    if not cache_key.startswith(HEALTH_PREFIX):
        return None
    region, _, credential = cache_key.removeprefix(HEALTH_PREFIX).partition("#")
    return f"{region}/{credential}"


class HealthLog(ABC):
    """Best effort: a record that cannot be written is dropped (the metric still counts)."""

    @abstractmethod
    def granted(self, region: str, credential: str, at: float) -> None: ...

    @abstractmethod
    def rejected(self, region: str, credential: str, code: str, at: float) -> None: ...

    @abstractmethod
    def rotated(self, region: str, credential: str, outcome: str, at: float) -> None:
        """`outcome`: "promoted", or why the pending secret was not (no secret in it)."""


class DynamoDBHealthLog(HealthLog):
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def granted(self, region: str, credential: str, at: float) -> None:
        self._set(region, credential, {"last_grant_at": {"N": f"{at:.3f}"}})

    def rejected(self, region: str, credential: str, code: str, at: float) -> None:
        self._set(
            region,
            credential,
            {"last_rejection_at": {"N": f"{at:.3f}"}, "last_rejection_code": {"S": code}},
        )

    def rotated(self, region: str, credential: str, outcome: str, at: float) -> None:
        self._set(
            region,
            credential,
            {"last_rotation_at": {"N": f"{at:.3f}"}, "last_rotation": {"S": outcome[:500]}},
        )

    def _set(self, region: str, credential: str, attributes: dict[str, Any]) -> None:
        names = sorted(attributes)
        expression = "SET " + ", ".join(f"{name} = :{name}" for name in names)
        with suppress(DependencyError), calling("DynamoDB", self._table):  # counted there
            self._client.update_item(
                TableName=self._table,
                Key={"cache_key": {"S": health_key(region, credential)}},
                UpdateExpression=expression,
                ExpressionAttributeValues={f":{name}": attributes[name] for name in names},
            )
