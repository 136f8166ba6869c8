"""What VCC's token endpoint answered, judged: plain functions of the answer, no endpoint state
and no I/O (the request itself is vcc_tokens.vcc.upstream's).

A 200 answer must carry an `access_token` in RFC 6750 b64token syntax (no spaces, CR, LF or
non-ASCII: it goes into Authorization headers) no longer than the cache holds, `token_type`
Bearer and an `expires_in` that is an integer (a JSON number or ASCII digits) within the bounds;
anything else is UpstreamBadResponse (502, remembered with backoff like any failure). Any other
answer becomes the typed error callers see, its Retry-After read per RFC 9110.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from vcc_tokens.values.errors import (
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRefusedScope,
    UpstreamRejectedCredentials,
    UpstreamRejectedRequest,
    UpstreamUnavailable,
)

# Retry-After we suggest when VCC gives none: its fair-usage limit resets "after a short period".
DEFAULT_RETRY_AFTER = 5
MAX_RETRY_AFTER = 300
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1
MAX_LIFETIME_DIGITS = 12  # more digits than any allowed expires_in: refused before int() reads them


@dataclass(frozen=True)
class IssuedToken:
    access_token: str = field(repr=False)
    expires_in: int
    token_type: str = "Bearer"


@dataclass(frozen=True)
class AnswerBounds:
    max_token_bytes: int  # what the cache can hold
    fallback_expires_in: int  # when VCC omits expires_in (RFC 6749 only RECOMMENDS it)
    lifetimes: tuple[int, int] = (60, 365 * 86_400)  # the shortest and longest expires_in taken


def issued_token(body: dict[str, Any] | None, where: str, bounds: AnswerBounds) -> IssuedToken:
    """The token a 200 answer carries, if every field is as RFC 6749 §5.1 and the bounds say."""
    if body is None:
        raise UpstreamBadResponse(f"{where} answered 200 without a JSON object")
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise UpstreamBadResponse(f"{where} answered 200 without an access_token")
    if not B64TOKEN.fullmatch(access_token):
        raise UpstreamBadResponse(
            f"{where} issued an access_token outside RFC 6750's b64token syntax (letters, "
            "digits, -._~+/ and trailing =)"
        )
    size = len(access_token.encode("utf-8"))
    if size > bounds.max_token_bytes:
        raise UpstreamBadResponse(
            f"{where} issued a token of {size} bytes; the cache holds tokens of at most "
            f"{bounds.max_token_bytes} bytes"
        )
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise UpstreamBadResponse(f"{where} issued a token_type other than Bearer")
    expires_in = _whole_number(body.get("expires_in", bounds.fallback_expires_in))
    shortest, longest = bounds.lifetimes
    if expires_in is None or not shortest <= expires_in <= longest:
        raise UpstreamBadResponse(
            f"{where} issued an expires_in that is not an integer from {shortest} to {longest} s"
        )
    return IssuedToken(access_token=access_token, expires_in=expires_in)


def error_for_response(
    status: int, headers: Mapping[str, str], body: bytes, region: str, scope: str
) -> UpstreamError:
    """Map a non-200 answer of the token endpoint to the typed error callers see."""
    error = (json_object(body) or {}).get("error")
    where = f"the {region} token endpoint"
    if status == 429 or status >= 500:
        retry_after = retry_after_seconds(headers)
        cls = UpstreamRateLimited if status == 429 else UpstreamUnavailable
        reason = "is rate limiting requests" if status == 429 else "failed"
        return cls(f"{where} {reason} ({status})", retry_after or DEFAULT_RETRY_AFTER, retry_after)
    if error == "invalid_client" or (status == 401 and error is None):
        return UpstreamRejectedCredentials(
            f"{where} rejected the {region} client credentials (invalid_client); "
            f"check the region's secret"
        )
    if error == "invalid_scope":
        return UpstreamRefusedScope(
            f"the {region} client credentials are not granted scope {scope!r} (invalid_scope)"
        )
    if 300 <= status < 400:
        return UpstreamBadResponse(f"{where} answered with a redirect ({status}); not followed")
    label = error if isinstance(error, str) and error.isidentifier() else "no OAuth error code"
    return UpstreamRejectedRequest(f"{where} rejected the token request ({status}, {label})")


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> int | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP date), kept between 1 s and
    MAX_RETRY_AFTER; None when absent or unreadable."""
    raw = headers.get("Retry-After", "").strip()
    if raw.isascii() and raw.isdigit():
        seconds = int(raw)
    else:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = math.ceil(when.timestamp() - (time.time() if now is None else now))
    return max(1, min(seconds, MAX_RETRY_AFTER))


def json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _whole_number(value: object) -> int | None:
    """An integer given as a JSON number or as ASCII digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        digits = value.strip()
        ascii_digits = digits.isascii() and digits.isdigit()
        value = int(digits) if ascii_digits and len(digits) <= MAX_LIFETIME_DIGITS else None
    return value if isinstance(value, int) else None
