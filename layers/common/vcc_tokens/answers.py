"""The bodies callers receive for a token, built at the edge from the contract's types
(vcc_tokens.api_types): the engine returns values, the handler presents them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from vcc_token_contract.vcc import Region
from vcc_tokens.api_types import TokenAnswer
from vcc_tokens.tokens import CachedToken


def token_body(token: CachedToken, now: float, min_ttl: int = 0) -> TokenAnswer:
    """The JSON body of GET /tokens/{region}/{scope} and of a refresh. A token with less than
    the `min_ttl` asked for (served as a fallback, or capped at half its lifetime) says so."""
    body = TokenAnswer(
        access_token=token.access_token,
        token_type="Bearer",
        expires_in=token.seconds_left(now),
        expires_at=rfc3339(token.expires_at),
        region=cast("Region", token.region),  # a request's region: validated on the way in
        scope=token.scope,
    )
    if body["expires_in"] < min_ttl:
        body["min_ttl_met"] = False
    return body


def rfc3339(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
