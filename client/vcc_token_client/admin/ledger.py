"""`vcc-token admin who-had` and `served-to`: the issuance ledger, from the vending function's
log group (its one INFO line per served token carries the token's SHA-256, its key, its source
and the caller; never the token).

    vcc-token admin who-had [FINGERPRINT] --stack S [--since 30d]   who received this token
    vcc-token admin served-to CALLER_ARN --stack S [--since 30d]    what this caller received

Without a fingerprint, the token is read from stdin and hashed here; it is never sent anywhere.
The lines come from CloudWatch Logs' FilterLogEvents with a quoted term (the fingerprint, the
caller's ARN, or for a role ARN the role's name, which its sessions' ARNs carry too), then are
matched exactly here, field by field, so the answer is the same whatever the term filter let
through: the same call answers against `make run` (moto's CloudWatch Logs, to which the local
stack delivers the functions' lines) and in AWS. How far back: the log group's retention (the
stack's LogRetentionInDays) or --since, whichever is shorter. Needs the stack's OperatorPolicy
(logs:FilterLogEvents on that group).

A search that stops at its page or time limit is incomplete, and says how far it got: AWS may
answer many empty pages (each a scanned time window) before a match, so "never served" is only
said of a search that read every page.
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

from vcc_token_client.admin.support import AdminError, aws_client, aws_error
from vcc_token_client.errors import Exit
from vcc_token_contract.entitlements import principal_matches
from vcc_token_contract.ledger import SERVED, Field
from vcc_token_contract.names import DEFAULT_CREDENTIAL, log_group

FINGERPRINT = re.compile(r"[0-9a-fA-F]{64}")
PASTED = re.compile(r"^(authorization\s*:\s*)?(bearer\s+)?", re.IGNORECASE)
DURATION = re.compile(r"(\d{1,4})([mhd])")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
ROLE_ARN = re.compile(
    r"^arn:(?P<partition>aws[\w-]*):iam::(?P<account>\d{12}):role/(?:.*/)?(?P<name>[^/]+)$"
)
MAX_PAGES = 200  # FilterLogEvents pages per question (each up to 1 MB of events)
MAX_SECONDS = 120.0  # and the time a question may take


def fingerprint(given: str | None, stdin_text: str) -> str:
    """The SHA-256 given (any case), or that of the token on stdin, as the token itself, a
    `Bearer ...` value or a pasted `Authorization: Bearer ...` line."""
    if given is not None:
        if not FINGERPRINT.fullmatch(given):
            raise AdminError("a fingerprint is the token's SHA-256: 64 hex digits", Exit.BAD_INPUT)
        return given.lower()
    token = PASTED.sub("", stdin_text.strip(), count=1).strip()
    if not token or any(character.isspace() for character in token):
        raise AdminError(
            "stdin holds no token: pipe the token itself, its `Bearer ...` value or the "
            "`Authorization: Bearer ...` line, or give its SHA-256",
            Exit.BAD_INPUT,
        )
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def since_ms(text: str, now: float | None = None) -> int:
    found = DURATION.fullmatch(text)
    if not found:
        raise AdminError(f"--since {text[:20]!r}: a duration like 30m, 24h or 30d", Exit.BAD_INPUT)
    seconds = int(found[1]) * UNIT_SECONDS[found[2]]
    return int(((now or time.time()) - seconds) * 1000)


@dataclass
class Search:
    """How far a question got: every page read, or stopped at a limit."""

    limit_pages: int = MAX_PAGES
    limit_seconds: float = MAX_SECONDS
    pages: int = 0
    stopped_by: str | None = None  # the limit that stopped it; None: complete
    last_line_at: int | None = None  # the timestamp (ms) of the last line read

    @property
    def complete(self) -> bool:
        return self.stopped_by is None

    def how_far(self) -> str:
        reached = f"lines up to {_when(self.last_line_at)}" if self.last_line_at else "no line"
        return (
            f"incomplete: stopped at the {self.stopped_by} after {self.pages} pages, having read "
            f"{reached}; a later line may hold the answer: narrow --since or ask again"
        )


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
    stack: str,
    token_sha256: str,
    since: int,
    search: Search,
    session: botocore.session.Session | None = None,
) -> dict[str, Seen]:
    """Every caller that received the token, by caller ARN (as far as `search` got)."""
    callers: dict[str, Seen] = {}
    for at, line in served_lines(stack, token_sha256, since, search, session):
        if line.get(Field.TOKEN) == token_sha256:
            callers.setdefault(str(line.get(Field.CALLER)), Seen()).add(at, _key(line))
    return callers


def served_to(
    stack: str,
    caller_arn: str,
    since: int,
    search: Search,
    session: botocore.session.Session | None = None,
) -> dict[str, Seen]:
    """Every token the caller received, by fingerprint (each with its key and, for a role
    ARN, the session it went to): a role's ARN matches every session of that role."""
    tokens: dict[str, Seen] = {}
    role = ROLE_ARN.match(caller_arn)
    term = role["name"] if role else caller_arn  # in the role's ARN and in its sessions' ARNs
    for at, line in served_lines(stack, term, since, search, session):
        caller = str(line.get(Field.CALLER))
        if line.get(Field.TOKEN) and (
            caller == caller_arn or principal_matches(caller_arn, caller)
        ):
            key = _key(line) if caller == caller_arn else f"{_key(line)} to {caller}"
            tokens.setdefault(str(line[Field.TOKEN]), Seen()).add(at, key)
    return tokens


def served_lines(
    stack: str,
    term: str,
    since: int,
    search: Search,
    session: botocore.session.Session | None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(timestamp, line) of each served-token line of the vending function mentioning `term`,
    page after page until the last or a limit of `search` (which records how far it got)."""
    group = log_group(stack, "vend")
    try:
        yield from log_lines(aws_client("logs", session), group, term, SERVED, since, search)
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise aws_error(exc, f"the log group {group}") from None


def log_lines(
    logs: Any, group: str, term: str, message: str, since: int, search: Search
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(timestamp, line) of each JSON line of `group` whose message is `message` and that holds
    `term` (FilterLogEvents' quoted term), page after page until the last or a limit of
    `search`, which records how far it got. botocore's errors are the caller's to say."""
    request: dict[str, Any] = {
        "logGroupName": group,
        "filterPattern": f'"{term}"',
        "startTime": since,
    }
    stop_at = time.monotonic() + search.limit_seconds
    while True:
        page = logs.filter_log_events(**request)
        search.pages += 1
        for at, line in _lines(page.get("events", []), message):
            search.last_line_at = max(at, search.last_line_at or 0)
            yield at, line
        if not page.get("nextToken"):
            return
        if search.pages >= search.limit_pages or time.monotonic() >= stop_at:
            limit = search.pages >= search.limit_pages
            search.stopped_by = (
                f"page limit ({search.limit_pages})"
                if limit
                else f"time limit ({search.limit_seconds:g} s)"
            )
            return
        request["nextToken"] = page["nextToken"]


def _lines(events: list[dict[str, Any]], message: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for event in events:
        try:
            line = json.loads(event.get("message", ""))
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("message") == message:
            yield int(event.get("timestamp", 0)), line


def _key(line: dict[str, Any]) -> str:
    credential = line.get(Field.CREDENTIAL, DEFAULT_CREDENTIAL)
    return f"{line.get(Field.REGION)}/{line.get(Field.SCOPE)} ({credential})"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
