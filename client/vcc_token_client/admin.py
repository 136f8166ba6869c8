"""`vcc-token admin`: answers for the platform team that runs the service.

    vcc-token admin check-rules FILE                     is this entitlements document valid?
    vcc-token admin explain CALLER_ARN REGION SCOPE      which rule lets this caller have it?
        [--rules FILE | --parameter NAME]                (a file, or the SSM parameter)
    vcc-token admin status --table NAME                  every cached key, without its token,
                                                         and each credential's health
    vcc-token admin rotate ...                           see vcc_token_client/rotate.py
    vcc-token admin purge --table NAME --region R        remove cached tokens (an incident)
        [--credential N] [--scope S] [--yes]

The rules, routes and secrets are checked by the service's own code (vcc_tokens, the [admin]
extra), so the answer is the service's; the item names are the contract's (vcc_token_contract),
so `status` and `purge` need only the client. `status` reads only metadata from the table (a
projection that leaves out the sealed token and its data key), so it needs dynamodb:Scan but no
kms:Decrypt, and never prints a token.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session

from vcc_token_client.admin_support import AdminError, aws_client, aws_error, service_code
from vcc_token_client.errors import Exit
from vcc_token_contract.entitlements import (
    Entitlements,
    InvalidEntitlements,
    Rule,
    parse_entitlements,
)
from vcc_token_contract.names import CacheKey, health_credential
from vcc_token_contract.vcc import REGIONS

STATUS_ATTRIBUTES = (
    "#region, #scope, token_type, token_sha256, fetched_at, expires_at, last_requested_at, "
    "lease_owner, lease_until, retry_at, failures, failure_code"
)
HEALTH_ATTRIBUTES = (
    "last_grant_at, last_rejection_at, last_rejection_code, last_rotation_at, last_rotation"
)


def load_rules(text: str, source: str) -> Entitlements:
    try:
        return parse_entitlements(text)
    except InvalidEntitlements as problem:
        raise AdminError(f"{source}: {problem}", Exit.BAD_INPUT) from None


# SSM Parameter Store's limits on a value: 4 KB for a Standard parameter, 8 KB for an Advanced
# one (charged per parameter and month). put-parameter refuses a larger value.
PARAMETER_TIER_BYTES = {"Standard": 4096, "Advanced": 8192}


def check_rules(path: Path, tier: str = "Standard") -> str:
    """Valid for the service, and without the mistakes it would silently live with: a scope
    pattern that names no scope VCC has (a typo: the rule never matches), or no rule at all
    (every caller refused). The service itself accepts both, so a typo locks nobody out.
    It must also fit in the SSM parameter's tier."""
    text = _read(path)
    size, limit = len(text.encode("utf-8")), PARAMETER_TIER_BYTES[tier]
    if size > limit:
        hint = (
            "store it as an Advanced parameter (check-rules --tier Advanced; put-parameter "
            "--tier Advanced, up to 8 KB, charged per parameter and month) or merge rules"
            if tier == "Standard"
            else "merge rules: SSM holds no larger value"
        )
        raise AdminError(
            f"{path}: {size} bytes, over the {limit}-byte limit of an SSM {tier} parameter: {hint}",
            Exit.BAD_INPUT,
        )
    rules = load_rules(text, str(path))
    if not rules.rules:
        raise AdminError(f"{path}: no rules: the service would refuse every caller", Exit.BAD_INPUT)
    allowed = _allowed_scopes()
    for number, rule in enumerate(rules.rules):
        for pattern in rule.scopes:
            if not any(fnmatch.fnmatchcase(scope, pattern) for scope in allowed):
                raise AdminError(
                    f"{path}: rule {number}: the scope {pattern!r} matches no scope; "
                    f"allowed: {', '.join(sorted(allowed))}",
                    Exit.BAD_INPUT,
                )
    count = len(rules.rules)
    return f"{path}: valid, {count} rule{'' if count == 1 else 's'}"


CALLER_ARN = re.compile(r"^arn:aws[a-z-]*:(iam::\d{12}:(role|user)/|sts::\d{12}:assumed-role/)\S+$")


def check_request(caller_arn: str, region: str, scope: str) -> None:
    """explain's inputs, checked as the service checks a request (exit 2 if wrong)."""
    if region not in REGIONS:
        raise AdminError(
            f"unknown region {region!r}; allowed: {', '.join(REGIONS)}", Exit.BAD_INPUT
        )
    allowed = _allowed_scopes()
    if scope not in allowed:
        raise AdminError(
            f"unknown scope {scope!r}; allowed: {', '.join(sorted(allowed))}", Exit.BAD_INPUT
        )
    if not CALLER_ARN.match(caller_arn):
        raise AdminError(
            f"{caller_arn!r} is not a caller's ARN: arn:aws:iam::ACCOUNT:role/NAME, "
            "arn:aws:iam::ACCOUNT:user/NAME or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION",
            Exit.BAD_INPUT,
        )


def _allowed_scopes() -> frozenset[str]:
    """The service's reading of ALLOWED_SCOPES (exit 2 if it would not start with it)."""
    with service_code():
        from vcc_tokens.values.config import ConfigurationError, allowed_scopes
    try:
        return allowed_scopes(os.environ)
    except ConfigurationError as problem:
        raise AdminError(str(problem), Exit.BAD_INPUT) from None


def credential_behind(region: str, scope: str, routes_text: str | None) -> tuple[bool, str]:
    """(served, which credential serves the scope in the region, or why none does), from the
    routes (the stack's CredentialRoutes; none: each region's default credential)."""
    with service_code():
        from vcc_tokens.values.routes import RouteError, parse_routes
    try:
        routes = parse_routes(routes_text, REGIONS, _allowed_scopes())
    except RouteError as problem:
        raise AdminError(f"the credential routes {problem}", Exit.BAD_INPUT) from None
    credential = routes.credential_for(region, scope)
    if credential is None:
        served = ", ".join(sorted(routes.served(region) or ()))
        return (
            False,
            f"refused: region {region} does not serve scope {scope!r}; it serves: {served}",
        )
    return True, f"served with credential {credential!r}"


@dataclass(frozen=True)
class Miss:
    number: int
    failed: tuple[str, ...]  # which of principal, region, scope the rule does not match


def explain(rules: Entitlements, caller_arn: str, region: str, scope: str) -> tuple[bool, str]:
    """(allowed, the sentence that says why)."""
    misses = []
    for number, rule in enumerate(rules.rules):
        failed = _failed_parts(rule, caller_arn, region, scope)
        if not failed:
            return True, f"allowed by rule {number}: {_describe(rule)}"
        misses.append(Miss(number, failed))
    if not misses:
        return False, "refused: the document has no rules"
    nearest = min(misses, key=lambda miss: len(miss.failed))
    rule = rules.rules[nearest.number]
    return False, (
        f"refused: no rule allows {caller_arn} {scope!r} in {region!r}; nearest miss: rule "
        f"{nearest.number} ({_describe(rule)}) does not match the {' or '.join(nearest.failed)}"
    )


def _failed_parts(rule: Rule, caller_arn: str, region: str, scope: str) -> tuple[str, ...]:
    part_of = type(rule)  # vcc_tokens.aws.entitlements.Rule: each part alone, the others any
    checks = {
        "principal": part_of(rule.principals, ("*",), ("*",)),
        "region": part_of(("*",), rule.regions, ("*",)),
        "scope": part_of(("*",), ("*",), rule.scopes),
    }
    return tuple(
        part for part, check in checks.items() if not check.allows(caller_arn, region, scope)
    )


def _describe(rule: Rule) -> str:
    return (
        f"principals {list(rule.principals)}, regions {list(rule.regions)}, "
        f"scopes {list(rule.scopes)}"
    )


def rules_from_ssm(parameter: str, session: botocore.session.Session | None = None) -> str:
    client = aws_client("ssm", session)
    try:
        answer = client.get_parameter(Name=parameter)
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise aws_error(exc, f"the SSM parameter {parameter!r}") from None
    return str(answer["Parameter"]["Value"])


def status(table: str, session: botocore.session.Session | None = None) -> list[dict[str, Any]]:
    """Every cached key's metadata, soonest expiry first, then each credential's health."""
    items = _scan(table, "cache_key, " + STATUS_ATTRIBUTES + ", " + HEALTH_ATTRIBUTES, session)
    tokens = [_row(item) for item in items if health_credential(_key_text(item)) is None]
    health = [
        _health_row(item, credential)
        for item in items
        if (credential := health_credential(_key_text(item))) is not None
    ]
    return sorted(tokens, key=lambda row: row.get("expires_at") or "") + sorted(
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
                ExpressionAttributeNames={"#region": "region", "#scope": "scope"}
                if "#region" in projection
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
    return str(item.get("cache_key", {}).get("S", "?"))


def _text(item: dict[str, Any], name: str, default: str) -> str:
    value = item.get(name, {}).get("S")
    return value if isinstance(value, str) else default


def _health_row(item: dict[str, Any], credential: str) -> dict[str, Any]:
    """A credential's health for people; like any item, what does not parse shows as missing."""
    rejected, rotated = _when(item, "last_rejection_at"), _when(item, "last_rotation_at")
    rotation = _text(item, "last_rotation", "")
    return {
        "credential": credential,
        "last_grant_at": _when(item, "last_grant_at"),
        "last_rejection": (
            f"{_text(item, 'last_rejection_code', 'rejected')} at {rejected}" if rejected else None
        ),
        "last_rotation": f"{rotated}: {rotation}" if rotated and rotation else None,
    }


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """One key's metadata for people. An item is untrusted: what does not parse shows as
    missing, and a token whose metadata does not parse as "unreadable" (the service never
    serves it and replaces it on the key's next request)."""

    now = datetime.now(UTC).timestamp()
    lease_until, retry_at = _number(item, "lease_until"), _number(item, "retry_at")
    fetched_at, expires_at = _when(item, "fetched_at"), _when(item, "expires_at")
    cache_key = _key_text(item)
    return {
        "key": cache_key,
        "credential": CacheKey.parse(cache_key).credential,
        "token": _token_state(item, fetched_at, expires_at),
        "fetched_at": fetched_at,
        "expires_at": expires_at,
        "last_requested_at": _when(item, "last_requested_at"),
        "lease": "held" if lease_until and lease_until > now else "free",
        "backoff": (
            f"{_text(item, 'failure_code', 'failure')} x{int(_number(item, 'failures') or 1)}, "
            f"retry after {_when(item, 'retry_at')}"
            if retry_at and retry_at > now
            else "none"
        ),
    }


def _token_state(item: dict[str, Any], fetched_at: str | None, expires_at: str | None) -> str:
    if "token_sha256" not in item and "expires_at" not in item:
        return "none"
    readable = isinstance(item.get("token_type", {}).get("S"), str) and fetched_at and expires_at
    return "sealed" if readable else "unreadable"


KEY_COLUMNS = (
    "key", "credential", "token", "fetched_at", "expires_at", "last_requested_at", "lease",
    "backoff",
)  # fmt: skip
HEALTH_COLUMNS = ("credential", "last_grant_at", "last_rejection", "last_rotation")


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


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AdminError(f"cannot read {path} ({exc.strerror})", Exit.BAD_INPUT) from None


def purge_candidates(
    table: str,
    region: str,
    credential: str | None,
    scope: str | None,
    session: botocore.session.Session | None = None,
) -> list[str]:
    """The cache keys a purge with these filters removes. A credential the table has never seen
    in the region (no token, no health record: a typo) is refused, exit 2."""
    texts = [_key_text(item) for item in _scan(table, "cache_key", session)]
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
            client.delete_item(TableName=table, Key={"cache_key": {"S": key}})
        except Exception as exc:  # botocore's errors: say which, never the service's text
            raise aws_error(exc, f"the table {table!r} (removing {key})", "write") from None
