"""VCC client credentials: one Secrets Manager secret per credential (vcc_tokens.values.routes).

A region's `default` credential is the secret `<prefix><region>`, a named one
`<prefix><region>/NAME`. Each holds JSON:
    {"client_id": "...", "client_secret": "...", "auth_method": "client_secret_post",
     "scopes": ["users:read", ...]}
`auth_method` is optional: `client_secret_post` (the default, credentials in the form body) or
`client_secret_basic` (HTTP Basic). `scopes` lists what the credential's VCC user holds: required
for a named credential, optional for a default one; a key whose scope the credential's secret
does not list is refused, naming both, before VCC is asked.

Values are cached for `max_age` seconds per version stage, so a secret changed in Secrets Manager
is picked up within that time without a redeploy; a value that does not parse is read again past
the cache on the next request, so an operator's fix works at once. Rotation (vcc_tokens.rotation)
reads the `AWSPENDING` and `AWSPREVIOUS` versions too, and moves `AWSCURRENT`.

When Secrets Manager is throttling or unreachable, the current value last read is used (it has
not changed because Secrets Manager cannot be reached); with none, the answer is 503
`dependency_unavailable`. A missing secret or a denied read is 500 `credentials_unavailable`,
naming the credential, the secret and AWS's error code, never its message or a value.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal, cast

from vcc_token_contract.names import DEFAULT_CREDENTIAL, secret_name
from vcc_tokens.aws.clients import calling
from vcc_tokens.observability import logger
from vcc_tokens.values.errors import CredentialsUnavailable, DependencyError, DependencyUnavailable
from vcc_tokens.values.tokens import Key
from vcc_tokens.values.ttl_cache import TtlCache

AuthMethod = Literal["client_secret_post", "client_secret_basic"]
AUTH_METHODS: tuple[AuthMethod, ...] = ("client_secret_post", "client_secret_basic")
Stage = Literal["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"]
CURRENT: Stage = "AWSCURRENT"
PENDING: Stage = "AWSPENDING"
PREVIOUS: Stage = "AWSPREVIOUS"


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)  # never in a repr, a log line or a trace
    auth_method: AuthMethod = "client_secret_post"
    scopes: frozenset[str] | None = None  # the scopes the secret lists; None: not listed
    version: str = ""  # Secrets Manager's VersionId (not secret)
    created_at: float = 0.0  # when that version was stored (epoch seconds)


class CredentialStore(ABC):
    @abstractmethod
    def read(
        self, region: str, credential: str, stage: Stage = CURRENT, *, fresh: bool = False
    ) -> ClientCredentials | None:
        """The credential's version with `stage`; None if no version has it (AWSPENDING,
        AWSPREVIOUS). A missing current version is CredentialsUnavailable naming the secret.
        `fresh` reads past any cache (after VCC rejected the cached value)."""

    @abstractmethod
    def promote(self, region: str, credential: str, pending: str, current: str) -> None:
        """Make version `pending` the current one (the old current becomes AWSPREVIOUS)."""

    @abstractmethod
    def secret_name(self, region: str, credential: str) -> str: ...

    def current(self, region: str, credential: str, *, fresh: bool = False) -> ClientCredentials:
        credentials = self.read(region, credential, CURRENT, fresh=fresh)
        if credentials is None:  # read raises first; this keeps the type honest
            raise CredentialsUnavailable(f"credential {credential!r} of {region} has no secret")
        return credentials

    def for_key(self, key: Key, *, fresh: bool = False) -> ClientCredentials:
        """The current credentials for the key, refused if the secret does not list its scope."""
        credentials = self.current(key.region, key.credential, fresh=fresh)
        self.check_serves(key, credentials)
        return credentials

    def check_serves(self, key: Key, credentials: ClientCredentials) -> None:
        name = self.secret_name(key.region, key.credential)
        where = f"credential {key.credential!r} of {key.region} (secret {name!r})"
        if credentials.scopes is None and key.credential != DEFAULT_CREDENTIAL:
            raise CredentialsUnavailable(f"{where} lists no scopes; a named credential must")
        if credentials.scopes is not None and key.scope not in credentials.scopes:
            raise CredentialsUnavailable(
                f"scope {key.scope!r} is routed to {where}, whose secret does not list it"
            )


class SecretsManagerCredentialStore(CredentialStore):
    """`make_client` is called on first use: only a fetch from VCC needs a secret, so an execution
    environment serving cached tokens never creates a Secrets Manager client (cold start)."""

    def __init__(
        self,
        make_client: Callable[[], Any],
        prefix: str,
        max_age: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_client = make_client
        self._prefix = prefix
        self._clock = clock
        # (secret, stage) -> value: the current value last read is also what an outage falls
        # back on; a value that does not parse is not kept, so it is read again
        self._cached: TtlCache[tuple[str, Stage], ClientCredentials] = TtlCache(max_age)

    @cached_property
    def _client(self) -> Any:
        return self._make_client()

    def secret_name(self, region: str, credential: str) -> str:
        return secret_name(self._prefix, region, credential)

    def read(
        self, region: str, credential: str, stage: Stage = CURRENT, *, fresh: bool = False
    ) -> ClientCredentials | None:
        name = self.secret_name(region, credential)
        cached = None if fresh else self._cached.get((name, stage), self._clock())
        if cached is not None:
            return cached
        try:
            answer = self._get(name, stage)
        except DependencyError as error:
            return self._unreadable(name, stage, credential, error)
        if answer is None:
            if stage == CURRENT:
                raise CredentialsUnavailable(
                    f"credential {credential!r} of {region} reads secret {name!r}, which does "
                    "not exist (ResourceNotFoundException)"
                )
            return None
        try:
            credentials = self._parsed(name, answer, stage)
        except CredentialsUnavailable:
            self._cached.pop((name, stage))  # an operator's fix is read at once
            raise
        if stage != PENDING:  # read once per rotation: nothing to keep
            self._cached.put((name, stage), credentials, self._clock())
        return credentials

    def promote(self, region: str, credential: str, pending: str, current: str) -> None:
        name = self.secret_name(region, credential)
        with calling("Secrets Manager", name):
            self._client.update_secret_version_stage(
                SecretId=name,
                VersionStage=CURRENT,
                MoveToVersionId=pending,
                RemoveFromVersionId=current,
            )
            self._client.update_secret_version_stage(
                SecretId=name, VersionStage=PENDING, RemoveFromVersionId=pending
            )
        for stage in (CURRENT, PREVIOUS):
            self._cached.pop((name, stage))

    def _get(self, name: str, stage: Stage) -> dict[str, Any] | None:
        with calling("Secrets Manager", name):
            try:
                answer: dict[str, Any] = self._client.get_secret_value(
                    SecretId=name, VersionStage=stage
                )
            except self._client.exceptions.ResourceNotFoundException:
                return None
        return answer

    def _unreadable(
        self, name: str, stage: Stage, credential: str, error: DependencyError
    ) -> ClientCredentials | None:
        if isinstance(error, DependencyUnavailable):
            last_read = self._cached.any_age((name, CURRENT))
            if stage == CURRENT and last_read is not None:
                logger.warning("Secrets Manager unavailable; using the secret last read")
                return last_read
            raise error
        raise CredentialsUnavailable(
            f"cannot read secret {name!r} of credential {credential!r}: {error.message}"
        ) from None

    def _parsed(self, name: str, answer: dict[str, Any], stage: Stage) -> ClientCredentials:
        raw = answer.get("SecretString", answer.get("SecretBinary"))
        credentials = parse_credentials(name, raw, stage)
        created = answer.get("CreatedDate")  # a datetime from boto3
        return ClientCredentials(
            credentials.client_id,
            credentials.client_secret,
            credentials.auth_method,
            credentials.scopes,
            version=str(answer.get("VersionId", "")),
            created_at=created.timestamp() if isinstance(created, datetime) else 0.0,
        )


# A secret is input the service does not control (anyone with PutSecretValue writes it): bounded
# before it is parsed. A VCC credential's JSON is well under 1 KB; Secrets Manager takes 64 KB.
MAX_SECRET_CHARACTERS = 8192
MAX_FIELD_CHARACTERS = 1024  # client_id, client_secret: what goes on the wire to VCC


def parse_credentials(secret_name: str, raw: object, stage: str = CURRENT) -> ClientCredentials:
    """Validate the secret's JSON: bounded in size, nesting and numbers, with the fields that go
    on the wire valid Unicode. Errors name the secret, the stage and the field, never a value."""

    def fail(reason: str) -> CredentialsUnavailable:
        return CredentialsUnavailable(f"secret {secret_name!r} ({stage}) {reason}")

    document = _json_object(raw, fail)
    for key in ("client_id", "client_secret"):
        value = document.get(key)
        if not isinstance(value, str) or not value:
            raise fail(f"needs a non-empty string {key!r}")
        if len(value) > MAX_FIELD_CHARACTERS or not _wire_text(value):
            raise fail(
                f"has a {key!r} that is not printable Unicode text of at most "
                f"{MAX_FIELD_CHARACTERS} characters"
            )
    auth_method = document.get("auth_method") or "client_secret_post"
    if auth_method not in AUTH_METHODS:
        raise fail(f"has an unsupported auth_method; allowed: {', '.join(AUTH_METHODS)}")
    scopes = document.get("scopes")
    if scopes is not None and (
        not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes)
    ):
        raise fail('has "scopes" that is not a list of strings')
    return ClientCredentials(
        client_id=document["client_id"],
        client_secret=document["client_secret"],
        auth_method=cast(AuthMethod, auth_method),
        scopes=frozenset(scopes) if scopes is not None else None,
    )


def _json_object(raw: object, fail: Callable[[str], CredentialsUnavailable]) -> dict[str, Any]:
    """The secret's value as a JSON object, its size bounded before it is parsed."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise fail("is binary that is not UTF-8 text") from None
    if isinstance(raw, str) and len(raw) > MAX_SECRET_CHARACTERS:
        raise fail(f"is {len(raw)} characters long; a credential fits in {MAX_SECRET_CHARACTERS}")
    try:  # a leading byte-order mark is what some editors save; anything else must be JSON
        document = json.loads(raw.removeprefix("\ufeff")) if isinstance(raw, str) else None
    except (ValueError, RecursionError):  # malformed, nested too deep, a number too long
        document = None
    if not isinstance(document, dict):
        raise fail('is not a JSON object like {"client_id": ..., "client_secret": ...}')
    return document


def _wire_text(value: str) -> bool:
    """Encodable as UTF-8 (no lone surrogates) and printable: what a form body can carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return value.isprintable()
