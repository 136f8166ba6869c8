"""`vcc-token admin`: answers for the platform team that runs the service.

    vcc-token admin check-rules FILE                     is this entitlements document valid?
    vcc-token admin explain CALLER_ARN REGION SCOPE      which rule lets this caller have it?
        [--rules FILE | --parameter NAME]                (a file, or the SSM parameter)
    vcc-token admin status --table NAME                  every cached key, without its token

The rules are checked and matched by the service's own code (vcc_tokens.entitlements), so the
answer is the service's. `status` reads only metadata from the table (a projection that leaves
out the sealed token and its data key), so it needs dynamodb:Scan but no kms:Decrypt, and never
prints a token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import botocore.session

if TYPE_CHECKING:
    from vcc_tokens.entitlements import Entitlements, Rule

STATUS_ATTRIBUTES = (
    "#region, #scope, token_type, token_sha256, fetched_at, expires_at, last_requested_at, "
    "lease_owner, lease_until, retry_at, failures, failure_code"
)


class AdminError(Exception):
    """What went wrong, for the operator; `code` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _entitlements_module() -> Any:
    try:
        from vcc_tokens import entitlements
    except ImportError:
        raise AdminError(
            "vcc-token admin uses the service's own code: install it beside the client "
            "(pip install ./layers/common) or run from the repository's .venv",
            1,
        ) from None
    return entitlements


def load_rules(text: str, source: str) -> Entitlements:
    module = _entitlements_module()
    try:
        rules: Entitlements = module.parse_entitlements(text)
    except module.InvalidEntitlements as problem:
        raise AdminError(f"{source}: {problem}", 2) from None
    return rules


def check_rules(path: Path) -> str:
    rules = load_rules(_read(path), str(path))
    return f"{path}: valid, {len(rules.rules)} rules"


@dataclass(frozen=True)
class Miss:
    number: int
    failed: tuple[str, ...]  # which of principal, region, scope the rule does not match


def explain(rules: Entitlements, caller_arn: str, region: str, scope: str) -> tuple[bool, str]:
    """(allowed, the sentence that says why)."""
    module = _entitlements_module()
    misses = []
    for number, rule in enumerate(rules.rules):
        failed = _failed_parts(module, rule, caller_arn, region, scope)
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


def _failed_parts(
    module: Any, rule: Rule, caller_arn: str, region: str, scope: str
) -> tuple[str, ...]:
    checks = {
        "principal": module.Rule(rule.principals, ("*",), ("*",)),
        "region": module.Rule(("*",), rule.regions, ("*",)),
        "scope": module.Rule(("*",), ("*",), rule.scopes),
    }
    return tuple(
        part for part, check in checks.items() if not check.allows(caller_arn, region, scope)
    )


def _describe(rule: Rule) -> str:
    return (
        f"principals {list(rule.principals)}, regions {list(rule.regions)}, "
        f"scopes {list(rule.scopes)}"
    )


def _client(service: str, session: botocore.session.Session | None) -> Any:
    """A client, or an AdminError (exit 5) saying what is missing (no region, typically)."""
    try:
        return (session or botocore.session.get_session()).create_client(service)
    except Exception as exc:  # NoRegionError and the like: say which, never a traceback
        raise AdminError(
            f"cannot make an AWS {service} client ({type(exc).__name__}): set AWS_REGION "
            "(or AWS_DEFAULT_REGION) to the stack's region",
            5,
        ) from None


def rules_from_ssm(parameter: str, session: botocore.session.Session | None = None) -> str:
    client = _client("ssm", session)
    try:
        answer = client.get_parameter(Name=parameter)
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise _aws_error(exc, f"the SSM parameter {parameter!r}") from None
    return str(answer["Parameter"]["Value"])


def status(table: str, session: botocore.session.Session | None = None) -> list[dict[str, Any]]:
    """Every cached key's metadata, soonest expiry first."""
    client = _client("dynamodb", session)
    rows: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("scan").paginate(
            TableName=table,
            ProjectionExpression="cache_key, " + STATUS_ATTRIBUTES,
            ExpressionAttributeNames={"#region": "region", "#scope": "scope"},
        ):
            rows.extend(_row(item) for item in page["Items"])
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise _aws_error(exc, f"the table {table!r}") from None
    return sorted(rows, key=lambda row: row.get("expires_at") or "")


def _aws_error(exc: Exception, what: str) -> AdminError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return AdminError(f"cannot read {what} ({code})", 5)


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """One key's metadata for people. An item is untrusted: what does not parse shows as
    missing, and a token whose metadata does not parse as "unreadable" (the service never
    serves it and replaces it on the key's next request)."""

    def number(name: str) -> float | None:
        try:
            return float(item[name]["N"])
        except (KeyError, TypeError, ValueError):
            return None

    def when(name: str) -> str | None:
        value = number(name)
        try:
            return (
                datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
            )
        except (ValueError, OverflowError, OSError):  # a date no calendar has
            return None

    now = datetime.now(UTC).timestamp()
    lease_until, retry_at = number("lease_until"), number("retry_at")
    return {
        "key": str(item.get("cache_key", {}).get("S", "?")),
        "token": _token_state(item, when("fetched_at"), when("expires_at")),
        "fetched_at": when("fetched_at"),
        "expires_at": when("expires_at"),
        "last_requested_at": when("last_requested_at"),
        "lease": "held" if lease_until and lease_until > now else "free",
        "backoff": (
            f"{item.get('failure_code', {}).get('S', 'failure')} x{int(number('failures') or 1)}, "
            f"retry after {when('retry_at')}"
            if retry_at and retry_at > now
            else "none"
        ),
    }


def _token_state(item: dict[str, Any], fetched_at: str | None, expires_at: str | None) -> str:
    if "token_sha256" not in item and "expires_at" not in item:
        return "none"
    readable = isinstance(item.get("token_type", {}).get("S"), str) and fetched_at and expires_at
    return "sealed" if readable else "unreadable"


def format_status(rows: list[dict[str, Any]], as_json: bool) -> str:
    if as_json:
        return json.dumps(rows, indent=2)
    if not rows:
        return "no cached keys"
    columns = ("key", "token", "fetched_at", "expires_at", "last_requested_at", "lease", "backoff")
    widths = {c: max(len(c), *(len(str(row[c] or "-")) for row in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(row[c] or "-").ljust(widths[c]) for c in columns) for row in rows]
    return "\n".join(lines)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AdminError(f"cannot read {path} ({exc.strerror})", 2) from None
