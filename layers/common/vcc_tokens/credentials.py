"""VCC client credentials, one Secrets Manager secret per region.

The secret `<prefix><region>` holds JSON:
    {"client_id": "...", "client_secret": "...", "auth_method": "client_secret_post"}
`auth_method` is optional: `client_secret_post` (the default, credentials in the form body) or
`client_secret_basic` (HTTP Basic). Values are cached by Powertools for `max_age` seconds, so a
rotated secret is picked up within that time without a redeploy; a value that does not parse is
read again past the cache on the next request, so an operator's fix works at once.

When Secrets Manager is throttling or unreachable, the value last read is used (the secret has
not changed because Secrets Manager cannot be reached); with none, the answer is 503
`dependency_unavailable`. A missing secret or a denied read is 500 `credentials_unavailable`,
naming the secret and AWS's error code, never its message or a value.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, cast

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from vcc_tokens.aws import calling, parameter_fault
from vcc_tokens.errors import CredentialsUnavailable, DependencyUnavailable
from vcc_tokens.observability import logger

AuthMethod = Literal["client_secret_post", "client_secret_basic"]
AUTH_METHODS: tuple[AuthMethod, ...] = ("client_secret_post", "client_secret_basic")


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)  # never in a repr, a log line or a trace
    auth_method: AuthMethod = "client_secret_post"


class CredentialStore(ABC):
    @abstractmethod
    def get(self, region: str, *, fresh: bool = False) -> ClientCredentials:
        """The credentials for `region`, or CredentialsUnavailable naming what is wrong.
        `fresh` reads past any cache (after VCC rejected the cached ones)."""


class SecretsManagerCredentialStore(CredentialStore):
    """`provider` is made on first use: only a fetch from VCC needs the secret, so an execution
    environment serving cached tokens never creates a Secrets Manager client (cold start)."""

    def __init__(self, provider: Callable[[], SecretsProvider], prefix: str, max_age: int) -> None:
        self._make_provider = provider
        self._prefix = prefix
        self._max_age = max_age
        self._malformed: set[str] = set()  # secrets whose cached value does not parse
        self._last_good: dict[str, ClientCredentials] = {}

    @cached_property
    def _provider(self) -> SecretsProvider:
        return self._make_provider()

    def secret_name(self, region: str) -> str:
        return f"{self._prefix}{region}"

    def get(self, region: str, *, fresh: bool = False) -> ClientCredentials:
        name = self.secret_name(region)
        fresh = fresh or name in self._malformed
        try:
            with calling("Secrets Manager", name):
                raw = self._provider.get(name, max_age=self._max_age, force_fetch=fresh)
        except GetParameterError as exc:
            error = parameter_fault("Secrets Manager", name, exc)
            if isinstance(error, DependencyUnavailable):
                if name in self._last_good:
                    logger.warning("Secrets Manager unavailable; using the secret last read")
                    return self._last_good[name]
                raise error from None
            raise CredentialsUnavailable(f"cannot read secret {name!r}: {error.message}") from None
        try:
            credentials = parse_credentials(name, raw)
        except CredentialsUnavailable:
            self._malformed.add(name)
            raise
        self._malformed.discard(name)
        self._last_good[name] = credentials
        return credentials


def parse_credentials(secret_name: str, raw: object) -> ClientCredentials:
    """Validate the secret's JSON. Errors name the secret and the field, never a value."""

    def fail(reason: str) -> CredentialsUnavailable:
        return CredentialsUnavailable(f"secret {secret_name!r} {reason}")

    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        document = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise fail('is not a JSON object like {"client_id": ..., "client_secret": ...}')
    for key in ("client_id", "client_secret"):
        value = document.get(key)
        if not isinstance(value, str) or not value:
            raise fail(f"needs a non-empty string {key!r}")
    auth_method = document.get("auth_method") or "client_secret_post"
    if auth_method not in AUTH_METHODS:
        raise fail(f"has an unsupported auth_method; allowed: {', '.join(AUTH_METHODS)}")
    return ClientCredentials(
        client_id=document["client_id"],
        client_secret=document["client_secret"],
        auth_method=cast(AuthMethod, auth_method),
    )
