"""Credential health: per credential, the last grant VCC gave, the last rejection
(`invalid_client`, `invalid_scope`) and the last rotation's outcome, as any function saw them:
the refresher records every outcome, the vending function at most one grant and one rejection
per credential and interval (ThrottledHealthLog), and only when it asked VCC (never on a cached
answer's path), so `vcc-token admin status` answers the credential alarm's first question
whichever function VCC refused.

Stored in the token table as one item per credential, `health#<region>#<credential>` (the token
cache skips these items), read by `vcc-token admin status`. The same item serializes rotations: a
run claims the pending version it proves (a conditional write, as leases are), so that two runs
proving one version make one request to VCC and give one answer. A rejection is also counted as
`CredentialRejections` with the credential as a dimension (vcc_tokens.observability), which the
template's alarm watches: the scheduled refresher renews ahead of expiry, so a rejected
credential raises the alarm while callers are still served valid tokens.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vcc_token_contract.item import Attribute as Item
from vcc_token_contract.names import health_key
from vcc_tokens.aws.clients import calling
from vcc_tokens.values.errors import DependencyError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class RotationState:
    claimed_version: str | None  # the pending version a run is proving, until claimed_until
    claimed_until: float
    last_version: str | None  # the version the last finished rotation was about, and its outcome
    last_outcome: str | None


class HealthLog(ABC):
    """Best effort: a record that cannot be written is dropped (the metric still counts)."""

    def claim_rotation(
        self, region: str, credential: str, version: str, until: float, now: float
    ) -> bool:
        """Whether this run may prove `version`: no other run is proving it. Without a shared
        record (this default) every run may."""
        return True

    def rotation_state(self, region: str, credential: str) -> RotationState | None:
        return None

    @abstractmethod
    def granted(self, region: str, credential: str, at: float) -> None: ...

    @abstractmethod
    def rejected(self, region: str, credential: str, code: str, at: float) -> None: ...

    @abstractmethod
    def rotated(
        self, region: str, credential: str, outcome: str, at: float, version: str = ""
    ) -> None:
        """`outcome`: "promoted", or why the pending secret was not (no secret in it); ends the
        claim on `version`."""


class ThrottledHealthLog(HealthLog):
    """The vending function's: the same records, at most one write per credential and kind
    (grant, rejection) per `interval` seconds from this execution environment."""

    def __init__(
        self, inner: HealthLog, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._inner = inner
        self._interval = interval
        self._clock = clock
        self._written: dict[tuple[str, str, str], float] = {}

    def granted(self, region: str, credential: str, at: float) -> None:
        if self._due("grant", region, credential):
            self._inner.granted(region, credential, at)

    def rejected(self, region: str, credential: str, code: str, at: float) -> None:
        if self._due("rejection", region, credential):
            self._inner.rejected(region, credential, code, at)

    def rotated(
        self, region: str, credential: str, outcome: str, at: float, version: str = ""
    ) -> None:
        self._inner.rotated(region, credential, outcome, at, version)

    def _due(self, kind: str, region: str, credential: str) -> bool:
        now, key = self._clock(), (kind, region, credential)
        if now - self._written.get(key, -self._interval) < self._interval:
            return False
        self._written[key] = now
        return True


class DynamoDBHealthLog(HealthLog):
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def granted(self, region: str, credential: str, at: float) -> None:
        self._set(region, credential, {Item.LAST_GRANT_AT: {"N": f"{at:.3f}"}})

    def rejected(self, region: str, credential: str, code: str, at: float) -> None:
        self._set(
            region,
            credential,
            {Item.LAST_REJECTION_AT: {"N": f"{at:.3f}"}, Item.LAST_REJECTION_CODE: {"S": code}},
        )

    def rotated(
        self, region: str, credential: str, outcome: str, at: float, version: str = ""
    ) -> None:
        attributes = {
            Item.LAST_ROTATION_AT: {"N": f"{at:.3f}"},
            Item.LAST_ROTATION: {"S": outcome[:500]},
            Item.LAST_ROTATION_VERSION: {"S": version or "-"},
        }
        self._set(
            region,
            credential,
            attributes,
            f" REMOVE {Item.ROTATION_CLAIM}, {Item.ROTATION_CLAIM_UNTIL}",
        )

    def claim_rotation(
        self, region: str, credential: str, version: str, until: float, now: float
    ) -> bool:
        try:
            with calling("DynamoDB", self._table):
                return self._claim(region, credential, version, until, now)
        except DependencyError:  # counted there; best effort: at worst two runs prove it
            return True

    def _claim(self, region: str, credential: str, version: str, until: float, now: float) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key={Item.CACHE_KEY: {"S": health_key(region, credential)}},
                UpdateExpression=(
                    f"SET {Item.ROTATION_CLAIM} = :version, {Item.ROTATION_CLAIM_UNTIL} = :until"
                ),
                ConditionExpression=(
                    f"attribute_not_exists({Item.ROTATION_CLAIM_UNTIL}) "
                    f"OR {Item.ROTATION_CLAIM_UNTIL} < :now OR {Item.ROTATION_CLAIM} <> :version"
                ),
                ExpressionAttributeValues={
                    ":version": {"S": version},
                    ":until": {"N": f"{until:.3f}"},
                    ":now": {"N": f"{now:.3f}"},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def rotation_state(self, region: str, credential: str) -> RotationState | None:
        with suppress(DependencyError), calling("DynamoDB", self._table):
            item = self._client.get_item(
                TableName=self._table,
                Key={Item.CACHE_KEY: {"S": health_key(region, credential)}},
                ConsistentRead=True,
            ).get("Item", {})
            return RotationState(
                _text(item, Item.ROTATION_CLAIM),
                _number(item, Item.ROTATION_CLAIM_UNTIL),
                _text(item, Item.LAST_ROTATION_VERSION),
                _text(item, Item.LAST_ROTATION),
            )
        return None

    def _set(
        self, region: str, credential: str, attributes: Mapping[Item, Any], also: str = ""
    ) -> None:
        names = sorted(attributes)
        expression = "SET " + ", ".join(f"{name} = :{name}" for name in names) + also
        with suppress(DependencyError), calling("DynamoDB", self._table):  # counted there
            self._client.update_item(
                TableName=self._table,
                Key={Item.CACHE_KEY: {"S": health_key(region, credential)}},
                UpdateExpression=expression,
                ExpressionAttributeValues={f":{name}": attributes[name] for name in names},
            )


def _text(item: dict[str, Any], name: str) -> str | None:
    """A string attribute of an item (untrusted: anything else is None)."""
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else None


def _number(item: dict[str, Any], name: str) -> float:
    try:
        return float(item.get(name, {}).get("N", 0))
    except (TypeError, ValueError):
        return 0.0
