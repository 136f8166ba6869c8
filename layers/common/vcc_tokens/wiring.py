"""Builds the service's collaborators once per execution environment, on first use.

Nothing here runs at import time, so importing a handler creates no AWS client and reads no
environment variable; tests reset everything with `reset()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from vcc_tokens.aws.clients import aws_client, client_config
from vcc_tokens.aws.credentials import SecretsManagerCredentialStore
from vcc_tokens.aws.entitlements import EntitlementStore, SsmEntitlementStore
from vcc_tokens.aws.handover import LambdaRenewer, Renewer
from vcc_tokens.aws.health import DynamoDBHealthLog, ThrottledHealthLog
from vcc_tokens.aws.sealing import KmsEnvelopeCipher
from vcc_tokens.aws.table import MAX_TOKEN_BYTES, DynamoDBTokenTable
from vcc_tokens.values.backoff import Retries
from vcc_tokens.values.config import Settings, get_settings
from vcc_tokens.vcc.upstream import VccTokenEndpoint
from vcc_tokens.vending import MemoryCache, TokenVendor

if TYPE_CHECKING:
    from vcc_tokens.rotation import Rotation


@lru_cache(maxsize=1)
def token_vendor() -> TokenVendor:
    """This execution environment's vendor."""
    return build_vendor(get_settings())


@dataclass(frozen=True)
class Connections:
    """What an execution environment reaches: the token cache (and its table's health items),
    the secrets, VCC. The refresher's vendor and its rotation share one set, so a promoted
    secret is the one the next renewal reads."""

    settings: Settings
    table: DynamoDBTokenTable
    credentials: SecretsManagerCredentialStore
    upstream: VccTokenEndpoint
    health: DynamoDBHealthLog


def connect(settings: Settings) -> Connections:
    config = client_config(settings)
    dynamodb = aws_client("dynamodb", config=config)
    cipher = KmsEnvelopeCipher(aws_client("kms", config=config), settings.kms_key_id)
    return Connections(
        settings,
        DynamoDBTokenTable(dynamodb, settings.table_name, cipher),
        credential_store(settings),
        token_endpoint(settings),
        DynamoDBHealthLog(dynamodb, settings.table_name),
    )


@lru_cache(maxsize=1)
def refresher_connections() -> Connections:
    return connect(get_settings())


@lru_cache(maxsize=1)
def refresher_vendor() -> TokenVendor:
    """The refresher's vendor: the same engine, recording each credential's health."""
    return vendor_on(refresher_connections(), records_health=True)


@lru_cache(maxsize=1)
def rotation() -> Rotation:
    """The refresher's rotation, on the refresher's secrets, VCC session and health log."""
    from vcc_tokens.rotation import Rotation  # the refresher's only: not on the vend import path

    reach = refresher_connections()

    def scopes_in_use(region: str, credential: str) -> Iterator[str]:
        for entry in reach.table.entries():
            if (entry.region, entry.credential) == (region, credential) and entry.token:
                yield entry.scope

    return Rotation(
        reach.credentials, reach.upstream, reach.settings, reach.health, time.time, scopes_in_use
    )


def build_vendor(
    settings: Settings, clock: Callable[[], float] = time.time, *, renewer: Renewer | None = None
) -> TokenVendor:
    """A vendor with its own connections and in-memory cache: what one Lambda instance holds.
    `renewer`: where renewals ahead are handed; by default the function the settings name."""
    return vendor_on(connect(settings), clock, renewer=renewer)


def vendor_on(
    reach: Connections,
    clock: Callable[[], float] = time.time,
    *,
    records_health: bool = False,
    renewer: Renewer | None = None,
) -> TokenVendor:
    """`records_health`: the refresher's, which records each credential's every outcome; a
    vending instance records at most one grant and one rejection per credential per renewal
    period (vcc_tokens.aws.health.ThrottledHealthLog)."""
    settings = reach.settings
    health = (
        reach.health
        if records_health
        else ThrottledHealthLog(reach.health, settings.renew_rate_seconds)
    )
    return TokenVendor(
        settings=settings,
        table=reach.table,
        credentials=reach.credentials,
        upstream=reach.upstream,
        memory=MemoryCache(settings.memory_cache_seconds),
        renewer=renewer or renewal_function(settings),
        clock=clock,
        health=health,
    )


def token_endpoint(
    settings: Settings, sleep: Callable[[float], None] = time.sleep
) -> VccTokenEndpoint:
    """`sleep`: how a wait between retries is spent."""
    return VccTokenEndpoint(
        settings.token_url,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        fallback_expires_in=settings.fallback_expires_in,
        max_token_bytes=MAX_TOKEN_BYTES,
        lifetimes=(settings.min_token_lifetime, settings.max_token_lifetime),
        retries=Retries(attempts=settings.upstream_max_attempts),
        sleep=sleep,
    )


def credential_store(settings: Settings) -> SecretsManagerCredentialStore:
    config = client_config(settings)
    return SecretsManagerCredentialStore(
        lambda: aws_client("secretsmanager", config=config),
        prefix=settings.secret_prefix,
        max_age=settings.secret_max_age,
    )


def renewal_function(settings: Settings) -> Renewer | None:
    """Background renewal through the refresher function, when the template names it."""
    name = settings.renewal_function_name
    if name is None:
        return None
    config = client_config(settings)
    return LambdaRenewer(lambda: aws_client("lambda", config=config), name)


@lru_cache(maxsize=1)
def entitlement_store() -> EntitlementStore:
    settings = get_settings()
    return SsmEntitlementStore(
        aws_client("ssm", config=client_config(settings)),
        settings.entitlements_parameter,
        settings.entitlements_max_age,
        settings.entitlements_grace_seconds,
    )


def reset() -> None:
    """Forget settings, clients and in-memory tokens, e.g. after a test changed the environment."""
    token_vendor.cache_clear()
    refresher_vendor.cache_clear()
    refresher_connections.cache_clear()
    rotation.cache_clear()
    entitlement_store.cache_clear()
    get_settings.cache_clear()
