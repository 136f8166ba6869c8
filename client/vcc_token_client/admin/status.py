"""`vcc-token admin status` and `purge`: the token table as operators see it.

    vcc-token admin status --table NAME                  every cached key, without its token,
                                                         and each credential's health
    vcc-token admin purge --table NAME --region R        remove cached tokens (an incident)
        [--credential N] [--scope S] [--yes]

The item names are the contract's (vcc_token_contract), so both need only the client. `status`
reads only metadata from the table (a projection that leaves out the sealed token and its data
key), so it needs dynamodb:Scan but no kms:Decrypt, and never prints a token.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import botocore.session

from vcc_token_client.admin.support import AdminError, aws_client, aws_error
from vcc_token_client.errors import Exit
from vcc_token_contract.item import USABLE, KeyState
from vcc_token_contract.item import Attribute as Item
from vcc_token_contract.names import CacheKey, health_credential

# What status reads of an item: metadata only, never the sealed token or its data key
STATUS_ATTRIBUTES = ", ".join(
    [
        f"#{Item.REGION}",
        f"#{Item.SCOPE}",
        *(Item.TOKEN_TYPE, Item.TOKEN_SHA256, Item.FETCHED_AT, Item.EXPIRES_AT),
        *(Item.LAST_REQUESTED_AT, Item.LEASE_OWNER, Item.LEASE_UNTIL),
        *(Item.RETRY_AT, Item.FAILURES, Item.FAILURE_CODE),
    ]
)
HEALTH_ATTRIBUTES = ", ".join(
    [
        *(Item.LAST_GRANT_AT, Item.LAST_REJECTION_AT, Item.LAST_REJECTION_CODE),
        *(Item.LAST_ROTATION_AT, Item.LAST_ROTATION),
    ]
)


def status(table: str, session: botocore.session.Session | None = None) -> list[dict[str, Any]]:
    """Every cached key's metadata, soonest expiry first, then each credential's health."""
    items = _scan(
        table, f"{Item.CACHE_KEY}, " + STATUS_ATTRIBUTES + ", " + HEALTH_ATTRIBUTES, session
    )
    tokens = [_row(item) for item in items if health_credential(_key_text(item)) is None]
    health = [
        _health_row(item, credential)
        for item in items
        if (credential := health_credential(_key_text(item))) is not None
    ]
    return sorted(tokens, key=lambda row: row.get(Item.EXPIRES_AT) or "") + sorted(
        health, key=lambda row: str(row["credential"])
    )


def _scan(
    table: str, projection: str, session: botocore.session.Session | None
) -> list[dict[str, Any]]:
    client = aws_client("dynamodb", session)
    try:
        return [
            item
            for page in client.get_paginator("scan").paginate(
                TableName=table,
                ProjectionExpression=projection,
                ExpressionAttributeNames={
                    f"#{Item.REGION}": Item.REGION,
                    f"#{Item.SCOPE}": Item.SCOPE,
                }
                if f"#{Item.REGION}" in projection
                else {},
            )
            for item in page["Items"]
        ]
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise aws_error(exc, f"the table {table!r}") from None


def _number(item: dict[str, Any], name: str) -> float | None:
    try:
        return float(item[name]["N"])
    except (KeyError, TypeError, ValueError):
        return None


def _when(item: dict[str, Any], name: str) -> str | None:
    value = _number(item, name)
    try:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
    except (ValueError, OverflowError, OSError):  # a date no calendar has
        return None


def _key_text(item: dict[str, Any]) -> str:
    return str(item.get(Item.CACHE_KEY, {}).get("S", "?"))


def _text(item: dict[str, Any], name: str, default: str) -> str:
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else default


def _health_row(item: dict[str, Any], credential: str) -> dict[str, Any]:
    """A credential's health for people; like any item, what does not parse shows as missing."""
    rejected, rotated = _when(item, Item.LAST_REJECTION_AT), _when(item, Item.LAST_ROTATION_AT)
    rotation = _text(item, Item.LAST_ROTATION, "")
    return {
        "credential": credential,
        Item.LAST_GRANT_AT: _when(item, Item.LAST_GRANT_AT),
        "last_rejection": (
            f"{_text(item, Item.LAST_REJECTION_CODE, 'rejected')} at {rejected}"
            if rejected
            else None
        ),
        Item.LAST_ROTATION: f"{rotated}: {rotation}" if rotated and rotation else None,
    }


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """One key's metadata for people. An item is untrusted: what does not parse shows as
    missing, and a token whose metadata does not parse as unreadable (the service never serves
    it and replaces it on the key's next request)."""

    now = datetime.now(UTC).timestamp()
    lease_until, retry_at = _number(item, Item.LEASE_UNTIL), _number(item, Item.RETRY_AT)
    fetched_at, expires_at = _when(item, Item.FETCHED_AT), _when(item, Item.EXPIRES_AT)
    cache_key = _key_text(item)
    backing_off = retry_at is not None and retry_at > now
    return {
        "key": cache_key,
        "credential": CacheKey.parse(cache_key).credential,
        "state": _state(item, now, backing_off, dated=bool(fetched_at and expires_at)),
        Item.FETCHED_AT: fetched_at,
        Item.EXPIRES_AT: expires_at,
        Item.LAST_REQUESTED_AT: _when(item, Item.LAST_REQUESTED_AT),
        "lease": _held_until(item, lease_until, now),
        "backoff": (
            f"{_text(item, Item.FAILURE_CODE, 'failure')} "
            f"x{int(_number(item, Item.FAILURES) or 1)}, retry after {_when(item, Item.RETRY_AT)}"
            if backing_off
            else None
        ),
    }


def _held_until(item: dict[str, Any], lease_until: float | None, now: float) -> str | None:
    return f"until {_when(item, Item.LEASE_UNTIL)}" if lease_until and lease_until > now else None


def _state(item: dict[str, Any], now: float, backing_off: bool, *, dated: bool) -> str:
    """The key's state by the engine's names (vcc_token_contract.item.KeyState), as far as the
    item alone tells (`dated`: its fetched_at and expires_at parse as dates): a usable token is
    fresh or due by the functions' renewal margin, which the item does not hold."""
    if Item.TOKEN_SHA256 not in item and Item.EXPIRES_AT not in item:
        return KeyState.BACKING_OFF if backing_off else KeyState.ABSENT
    token_type = item.get(Item.TOKEN_TYPE, {}).get("S")
    if not (isinstance(token_type, str) and dated):
        return KeyState.UNREADABLE
    if (_number(item, Item.EXPIRES_AT) or 0) > now:
        return USABLE
    return KeyState.BACKING_OFF if backing_off else KeyState.EXPIRED


KEY_COLUMNS = (
    "key", "credential", "state", Item.FETCHED_AT, Item.EXPIRES_AT, Item.LAST_REQUESTED_AT, "lease",
    "backoff",
)  # fmt: skip


HEALTH_COLUMNS = ("credential", Item.LAST_GRANT_AT, "last_rejection", Item.LAST_ROTATION)


def format_status(rows: list[dict[str, Any]], as_json: bool) -> str:
    if as_json:
        return json.dumps(rows, indent=2)
    keys = [row for row in rows if "key" in row]
    health = [row for row in rows if "key" not in row]
    text = _table(keys, KEY_COLUMNS) if keys else "no cached keys"
    return text + ("\n\n" + _table(health, HEALTH_COLUMNS) if health else "")


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    widths = {c: max(len(c), *(len(str(row[c] or "-")) for row in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(row[c] or "-").ljust(widths[c]) for c in columns) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def purge_candidates(
    table: str,
    region: str,
    credential: str | None,
    scope: str | None,
    session: botocore.session.Session | None = None,
) -> list[str]:
    """The cache keys a purge with these filters removes. A credential the table has never seen
    in the region (no token, no health record: a typo) is refused, exit 2."""
    texts = [_key_text(item) for item in _scan(table, Item.CACHE_KEY, session)]
    keys = [(text, CacheKey.parse(text)) for text in texts if health_credential(text) is None]
    known = {key.credential for _, key in keys if key.region == region}
    known |= {
        c.split("/", 1)[1] for t in texts if (c := health_credential(t)) and c.startswith(region)
    }
    if credential is not None and credential not in known:
        raise AdminError(
            f"credential {credential[:40]!r} of {region} has no cached token or health record "
            f"in {table}; it has: {', '.join(sorted(known)) or 'none'}",
            Exit.BAD_INPUT,
        )
    return sorted(
        text
        for text, key in keys
        if key.region == region
        and scope in (None, key.scope)
        and credential in (None, key.credential)
    )


def purge(table: str, keys: list[str], session: botocore.session.Session | None = None) -> None:
    client = aws_client("dynamodb", session)
    for key in keys:
        try:
            client.delete_item(TableName=table, Key={Item.CACHE_KEY: {"S": key}})
        except Exception as exc:  # botocore's errors: say which, never the service's text
            raise aws_error(exc, f"the table {table!r} (removing {key})", "write") from None
