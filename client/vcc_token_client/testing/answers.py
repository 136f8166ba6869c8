"""What the test double answers a caller whose signature has passed: the service's routes, its
checks on region, scope, min_ttl and the refresh body, the entitlement rules, and its answers'
shapes and codes, all from the contract (vcc_token_contract.api). No I/O: the server is
vcc_token_client.testing.double's.

The tokens are the double's own (random, `lifetime` seconds long): one per (region, scope),
kept while it has the min_ttl asked for, replaced by a refresh that names it (once) or by a
forced refresh, and refused by the stand-in VCC API once revoked.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from vcc_token_contract.api import (
    DEFAULT_MIN_TTL,
    ERROR_STATUS,
    MAX_MIN_TTL,
    NO_STORE,
    OAUTH_FORM,
    OAUTH_ROUTE,
    OAuthErrorCode,
    error_body,
    oauth_error_body,
    oauth_error_for,
    oauth_token_body,
    token_body,
)
from vcc_token_contract.entitlements import Entitlements
from vcc_token_contract.vcc import DEFAULT_REGION, REGIONS, SCOPES, Region

_TOKEN_PATH = re.compile(r"^/tokens/(?P<region>[^/]+)/(?P<scope>[^/]+)(?P<refresh>/refresh)?$")
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_MAX_ECHO = 64


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def is_route(method: str, path: str) -> bool:
    """One of the API's routes: API Gateway answers anything else itself (403, MISSING_TOKEN),
    before it checks a signature."""
    if method == "POST" and path == OAUTH_ROUTE:
        return True
    found = _TOKEN_PATH.match(path)
    return found is not None and method == ("POST" if found["refresh"] else "GET")


class Refused(Exception):
    """One of the API's error answers (its code's status is the contract's)."""

    def __init__(self, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]


@dataclass
class _Issued:
    access_token: str = field(repr=False)
    expires_at: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.access_token.encode()).hexdigest()


class TokenApi:
    """The service's answers to verified callers, over the double's own tokens."""

    def __init__(
        self,
        *,
        scopes: Iterable[str] = SCOPES,
        entitlements: Entitlements | None = None,
        lifetime: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.scopes = frozenset(scopes)
        self.entitlements = entitlements  # None: every caller may have every token
        self.lifetime = lifetime
        self._clock = clock
        self._current: dict[tuple[str, str], _Issued] = {}
        self._revoked: set[str] = set()  # SHA-256 of the tokens the stand-in VCC API refuses
        self._lock = threading.Lock()

    # --- the routes ------------------------------------------------------------------------
    def answer(
        self, method: str, path: str, query: str, body: bytes, caller: str, content_type: str
    ) -> Answer:
        """The answer of a route (is_route) to a caller whose signature passed."""
        if path == OAUTH_ROUTE:
            return self.oauth2(query, body, caller, content_type)
        found = _TOKEN_PATH.match(path)
        if found is None:
            raise ValueError(f"{method} {path} is not one of the API's routes (is_route)")
        try:
            # in the service's order: body (GET), query, region, scope, min_ttl, entitlement
            if body and not found["refresh"]:
                raise Refused("invalid_request", "GET takes no body")
            _check_query(query, frozenset() if found["refresh"] else frozenset({"min_ttl"}))
            region, scope = _known(found["region"], found["scope"], self.scopes)
            min_ttl = 0 if found["refresh"] else _min_ttl(query)
            self._entitled(caller, region, scope)
            rejected = _rejected_sha256(body) if found["refresh"] else None
            return self._token(region, scope, min_ttl, rejected)
        except Refused as refused:
            return _refusal(refused)

    def oauth2(self, query: str, body: bytes, caller: str, content_type: str) -> Answer:
        """POST /oauth2/token: the same tokens, in RFC 6749's form."""
        try:
            if query:
                raise _OAuthRefused("invalid_request", "send the parameters in the form body")
            if content_type.split(";")[0].strip().lower() != OAUTH_FORM:
                raise _OAuthRefused("invalid_request", f"the request body must be {OAUTH_FORM}")
            form = _form(body)
            region, scope = _known(form.get("region") or DEFAULT_REGION, form["scope"], self.scopes)
            self._entitled(caller, region, scope)
            token = self._issued(region, scope, 0, None, force=False)
        except _OAuthRefused as refused:
            return Answer(400, dict(oauth_error_body(refused.error, refused.description)), NO_STORE)
        except Refused as refused:
            error, status = oauth_error_for(refused.code)
            return Answer(status, dict(oauth_error_body(error, refused.message)), NO_STORE)
        seconds_left = max(0, int(token.expires_at - self._clock()))
        return Answer(
            200, dict(oauth_token_body(token.access_token, scope, seconds_left)), NO_STORE
        )

    # --- the tokens ------------------------------------------------------------------------
    def revoke(self) -> None:
        """Every token issued so far is now refused by the stand-in VCC API (401)."""
        with self._lock:
            self._revoked.update(token.sha256 for token in self._current.values())

    def vcc_accepts(self, region: str, access_token: str) -> bool:
        """The stand-in VCC API's question: is this a current, unrevoked token of the region?"""
        digest = hashlib.sha256(access_token.encode()).hexdigest()
        now = self._clock()
        with self._lock:
            return digest not in self._revoked and any(
                key[0] == region and token.sha256 == digest and token.expires_at > now
                for key, token in self._current.items()
            )

    def _token(self, region: Region, scope: str, min_ttl: int, rejected: str | None) -> Answer:
        token = self._issued(region, scope, min_ttl, rejected, force=rejected is not None)
        now = self._clock()
        body = token_body(token.access_token, region, scope, token.expires_at, now, min_ttl)
        return Answer(200, dict(body), NO_STORE)

    def _issued(
        self, region: str, scope: str, min_ttl: int, rejected: str | None, *, force: bool
    ) -> _Issued:
        now = self._clock()
        with self._lock:
            current = self._current.get((region, scope))
            stale = current is None or current.expires_at - now < min_ttl
            replace = force and (rejected == "" or current is None or current.sha256 == rejected)
            if current is None or stale or replace:
                current = _Issued(secrets.token_urlsafe(32), int(now) + self.lifetime)
                self._current[(region, scope)] = current
            return current

    def _entitled(self, caller: str, region: str, scope: str) -> None:
        if self.entitlements is not None and not self.entitlements.allows(caller, region, scope):
            raise Refused(
                "forbidden", f"caller may not obtain scope {scope!r} in region {region!r}"
            )


class _OAuthRefused(Exception):
    def __init__(self, error: OAuthErrorCode, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _refusal(refused: Refused) -> Answer:
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else {}
    return Answer(
        refused.status, dict(error_body(refused.code, refused.message)), {**NO_STORE, **headers}
    )


def _known(region: str, scope: str, scopes: frozenset[str]) -> tuple[Region, str]:
    if region not in REGIONS:
        raise Refused(
            "unknown_region", f"unknown region {_echo(region)}; allowed: {', '.join(REGIONS)}"
        )
    scope = unquote(scope)
    if scope not in scopes:
        allowed = ", ".join(sorted(scopes))
        raise Refused("unknown_scope", f"unknown scope {_echo(scope)}; allowed: {allowed}")
    return region, scope


def _check_query(query: str, allowed: frozenset[str]) -> None:
    for name, values in parse_qs(query, keep_blank_values=True).items():
        if name not in allowed:
            takes = ", ".join(sorted(allowed)) or "none"
            raise Refused(
                "invalid_request", f"unknown query parameter {_echo(name)}; allowed: {takes}"
            )
        if len(values) > 1:
            raise Refused(
                "invalid_request", f"query parameter {_echo(name)} is given more than once"
            )


def _min_ttl(query: str) -> int:
    raw = parse_qs(query, keep_blank_values=True).get("min_ttl", [None])[0]
    if raw is None:
        return DEFAULT_MIN_TTL
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 or int(raw) > MAX_MIN_TTL:
        allowed = f"a whole number of seconds from 0 to {MAX_MIN_TTL}"
        raise Refused("invalid_request", f"min_ttl must be {allowed}, got {_echo(raw)}")
    return int(raw)


def _rejected_sha256(body: bytes) -> str:
    """The refresh body's token digest; "" for an empty body (a forced refresh)."""
    if not body.strip():
        return ""
    expected = 'the body must be empty or {"rejected_token_sha256": "<64 hex characters>"}'
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused("invalid_request", f"the body is not JSON; {expected}") from None
    if not isinstance(document, dict) or set(document) != {"rejected_token_sha256"}:
        raise Refused("invalid_request", expected)
    digest = document["rejected_token_sha256"]
    if not isinstance(digest, str) or not _SHA256_HEX.match(digest):
        raise Refused(
            "invalid_request", f"rejected_token_sha256 must be 64 hex characters; {expected}"
        )
    return digest.lower()


def _form(body: bytes) -> dict[str, str]:
    """A client-credentials form: grant_type, exactly one scope, an optional region."""
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (ValueError, UnicodeDecodeError):
        raise _OAuthRefused("invalid_request", "the form body is malformed") from None
    if any(len(values) > 1 for values in fields.values()):
        raise _OAuthRefused("invalid_request", "a parameter is given more than once")
    form = {name: values[0] for name, values in fields.items()}
    if "client_secret" in form or "client_assertion" in form:
        raise _OAuthRefused(
            "invalid_request", "callers are authenticated by SigV4; send no client credentials"
        )
    if "grant_type" not in form:
        raise _OAuthRefused("invalid_request", "grant_type is required (client_credentials)")
    if form["grant_type"] != "client_credentials":
        raise _OAuthRefused("unsupported_grant_type", "only grant_type=client_credentials")
    form["scope"] = form.get("scope", "").strip()
    if not form["scope"] or " " in form["scope"]:
        raise _OAuthRefused("invalid_scope", "exactly one scope is required per token request")
    return form


def _echo(value: str) -> str:
    return repr(value[:_MAX_ECHO] + ("..." if len(value) > _MAX_ECHO else ""))
