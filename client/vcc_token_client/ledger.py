"""`vcc-token admin who-had` and `served-to`: the issuance ledger, from the vending function's
log group (its one INFO line per served token carries the token's SHA-256, its key, its source
and the caller; never the token).

    vcc-token admin who-had [FINGERPRINT] --stack S [--since 30d]   who received this token
    vcc-token admin served-to CALLER_ARN --stack S [--since 30d]    what this caller received

Without a fingerprint, the token is read from stdin and hashed here; it is never sent anywhere.
The lines come from CloudWatch Logs' FilterLogEvents with a quoted term (the fingerprint or the
caller's ARN), then are matched exactly here, field by field, so the answer is the same whatever
the term filter let through: the same call answers against `make run` (moto's CloudWatch Logs,
to which the local stack delivers the functions' lines) and in AWS. How far back: the log
group's retention (the stack's LogRetentionInDays) or --since, whichever is shorter. Needs the
stack's OperatorPolicy (logs:FilterLogEvents on that group).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import botocore.session

from vcc_token_client.admin_support import AdminError, aws_client, aws_error
from vcc_token_client.errors import Exit
from vcc_token_contract.ledger import SERVED, Field
from vcc_token_contract.names import DEFAULT_CREDENTIAL, log_group

FINGERPRINT = re.compile(r"[0-9a-f]{64}")
DURATION = re.compile(r"(\d{1,4})([mhd])")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
MAX_PAGES = 200  # FilterLogEvents pages per question (each up to 1 MB of events)


def fingerprint(given: str | None, stdin_text: str) -> str:
    """The SHA-256 given, or that of the token on stdin (a "Bearer " prefix is dropped)."""
    if given is not None:
        if not FINGERPRINT.fullmatch(given):
            raise AdminError(
                "a fingerprint is the token's SHA-256: 64 lower-case hex digits", Exit.BAD_INPUT
            )
        return given
    token = stdin_text.strip().removeprefix("Bearer ").strip()
    if not token or any(character.isspace() for character in token):
        raise AdminError(
            "no token on stdin: pipe the token itself, or give its SHA-256", Exit.BAD_INPUT
        )
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def since_ms(text: str, now: float | None = None) -> int:
    found = DURATION.fullmatch(text)
    if not found:
        raise AdminError(f"--since {text[:20]!r}: a duration like 30m, 24h or 30d", Exit.BAD_INPUT)
    seconds = int(found[1]) * UNIT_SECONDS[found[2]]
    return int(((now or time.time()) - seconds) * 1000)


@dataclass
class Seen:
    """How often, first and last, something was served."""

    count: int = 0
    first: int = 0
    last: int = 0
    keys: set[str] = field(default_factory=set)

    def add(self, at: int, key: str) -> None:
        self.count += 1
        self.first = min(self.first, at) if self.first else at
        self.last = max(self.last, at)
        self.keys.add(key)

    def line(self, who: str) -> str:
        return f"{who}  {self.count} x  first {_when(self.first)}  last {_when(self.last)}"


def who_had(
    stack: str, token_sha256: str, since: int, session: botocore.session.Session | None = None
) -> dict[str, Seen]:
    """Every caller that received the token, by caller ARN."""
    callers: dict[str, Seen] = {}
    for at, line in served_lines(stack, token_sha256, since, session):
        if line.get(Field.TOKEN) == token_sha256:
            callers.setdefault(str(line.get(Field.CALLER)), Seen()).add(at, _key(line))
    return callers


def served_to(
    stack: str, caller_arn: str, since: int, session: botocore.session.Session | None = None
) -> dict[str, Seen]:
    """Every token the caller received, by fingerprint (each with its key)."""
    tokens: dict[str, Seen] = {}
    for at, line in served_lines(stack, caller_arn, since, session):
        if line.get(Field.CALLER) == caller_arn and line.get(Field.TOKEN):
            tokens.setdefault(str(line[Field.TOKEN]), Seen()).add(at, _key(line))
    return tokens


def served_lines(
    stack: str, term: str, since: int, session: botocore.session.Session | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(timestamp, line) of each served-token line of the vending function mentioning `term`."""
    logs = aws_client("logs", session)
    group = log_group(stack, "vend")
    request: dict[str, Any] = {
        "logGroupName": group,
        "filterPattern": f'"{term}"',
        "startTime": since,
    }
    for _ in range(MAX_PAGES):
        try:
            page = logs.filter_log_events(**request)
        except Exception as exc:  # botocore's errors: say which, never the service's text
            raise aws_error(exc, f"the log group {group}") from None
        for event in page.get("events", []):
            try:
                line = json.loads(event.get("message", ""))
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("message") == SERVED:
                yield int(event.get("timestamp", 0)), line
        if not page.get("nextToken"):
            return
        request["nextToken"] = page["nextToken"]


def _key(line: dict[str, Any]) -> str:
    credential = line.get(Field.CREDENTIAL, DEFAULT_CREDENTIAL)
    return f"{line.get(Field.REGION)}/{line.get(Field.SCOPE)} ({credential})"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
