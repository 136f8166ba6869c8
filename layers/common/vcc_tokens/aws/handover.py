"""Renewal in the background: a caller whose request finds its (valid) token inside the renewal
margin should not wait for VCC, so the vending function takes the key's lease and asks the
refresher function, asynchronously, to renew the key under that lease, then serves the valid
token at once. The refresher's `renew_handed_over` (vcc_tokens.vending) does the fetch.

Without a renewer (RENEWAL_FUNCTION_NAME unset, as in `make run`), the request renews inline,
within the short RENEW_AHEAD_BUDGET_SECONDS.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cached_property
from typing import Any

from vcc_token_contract.events import RENEW_SHAPE, renewal_event
from vcc_token_contract.names import LEASE_OWNER
from vcc_tokens.aws.clients import calling
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import InvalidRequest
from vcc_tokens.values.token_request import parse_token_request
from vcc_tokens.values.tokens import Key


def parse_renewal(payload: object, settings: Settings) -> tuple[Key, str]:
    """The key and lease owner a renewal event names, validated like a caller's request (an
    asynchronous event is input too: replayed, forged or malformed ones are refused)."""
    if not isinstance(payload, dict):
        raise InvalidRequest(f"a renewal event is {RENEW_SHAPE}")
    region, scope, owner = (payload.get(name) for name in ("region", "scope", "lease_owner"))
    if not all(isinstance(value, str) for value in (region, scope, owner)):
        raise InvalidRequest("a renewal event needs region, scope and lease_owner as strings")
    request = parse_token_request(str(region), str(scope), None, settings)
    if not LEASE_OWNER.fullmatch(str(owner)):
        raise InvalidRequest("a renewal event's lease_owner is 32 lower-case hex digits")
    return request.key, str(owner)


class Renewer(ABC):
    @abstractmethod
    def request(self, region: str, scope: str, lease_owner: str) -> None:
        """Have the key renewed soon, under the lease `lease_owner` holds; do not wait for it.
        Raises DependencyError (vcc_tokens.aws.clients) if the request cannot be made."""


class LambdaRenewer(Renewer):
    """An asynchronous (Event) invocation of the refresher function."""

    def __init__(self, make_client: Callable[[], Any], function_name: str) -> None:
        self._make_client = make_client
        self._function_name = function_name

    @cached_property
    def _client(self) -> Any:
        return self._make_client()  # made on the first renewal, not at cold start

    def request(self, region: str, scope: str, lease_owner: str) -> None:
        payload = renewal_event(region, scope, lease_owner)
        with calling("Lambda", self._function_name):
            self._client.invoke(
                FunctionName=self._function_name,
                InvocationType="Event",
                Payload=json.dumps(payload).encode(),
            )
