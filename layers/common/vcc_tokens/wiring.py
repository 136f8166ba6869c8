"""Builds the service's collaborators once per execution environment, on first use.

Nothing here runs at import time, so importing a handler creates no AWS client and reads no
environment variable; tests reset everything with `reset()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from botocore.config import Config

from vcc_tokens.aws import aws_client, client_config
from vcc_tokens.cache import MAX_TOKEN_BYTES, DynamoDBTokenCache
from vcc_tokens.config import Settings, get_settings
from vcc_tokens.credentials import SecretsManagerCredentialStore
from vcc_tokens.entitlements import EntitlementStore, SsmEntitlementStore
from vcc_tokens.health import DynamoDBHealthLog
from vcc_tokens.renewal import LambdaRenewer, Renewer
from vcc_tokens.sealing import KmsEnvelopeCipher
from vcc_tokens.upstream import VccTokenEndpoint
from vcc_tokens.vending import MemoryCache, TokenVendor

if TYPE_CHECKING:
    from vcc_tokens.rotation import Rotation


@lru_cache(maxsize=1)
def token_vendor() -> TokenVendor:
    """This execution environment's vendor."""
    return build_vendor(get_settings())


@lru_cache(maxsize=1)
def refresher_vendor() -> TokenVendor:
    """The refresher's vendor: the same engine, recording each credential's health."""
    return build_vendor(get_settings(), records_health=True)


@lru_cache(maxsize=1)
def rotation() -> Rotation:
    """The refresher's rotation, on its vendor's secrets, VCC session and health log."""
    from vcc_tokens.rotation import Rotation  # the refresher's only: not on the vend import path

    vendor = refresher_vendor()

    def scopes_in_use(region: str, credential: str) -> Iterator[str]:
        for entry in vendor.store.entries():
            if (entry.region, entry.credential) == (region, credential) and entry.token:
                yield entry.scope

    return Rotation(
        vendor.credentials,
        vendor.upstream,
        vendor.settings,
        vendor.health,
        vendor.clock,
        scopes_in_use,
    )


def build_vendor(
    settings: Settings, clock: Callable[[], float] = time.time, *, records_health: bool = False
) -> TokenVendor:
    """A vendor with its own clients and in-memory cache: what one Lambda instance holds.
    `records_health`: the refresher's, which records each credential's outcomes."""
    config = client_config(settings)
    dynamodb = aws_client("dynamodb", config=config)
    return TokenVendor(
        settings=settings,
        cache=DynamoDBTokenCache(
            dynamodb,
            settings.table_name,
            KmsEnvelopeCipher(aws_client("kms", config=config), settings.kms_key_id),
        ),
        credentials=credential_store(settings),
        upstream=token_endpoint(settings),
        memory=MemoryCache(settings.memory_cache_seconds),
        renewer=renewer(settings, config),
        clock=clock,
        health=DynamoDBHealthLog(dynamodb, settings.table_name) if records_health else None,
    )


def token_endpoint(settings: Settings) -> VccTokenEndpoint:
    return VccTokenEndpoint(
        settings.token_url,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        fallback_expires_in=settings.fallback_expires_in,
        max_token_bytes=MAX_TOKEN_BYTES,
        lifetimes=(settings.min_token_lifetime, settings.max_token_lifetime),
        budget_seconds=settings.upstream_budget,
        max_attempts=settings.upstream_max_attempts,
    )


def credential_store(settings: Settings) -> SecretsManagerCredentialStore:
    config = client_config(settings)
    return SecretsManagerCredentialStore(
        lambda: aws_client("secretsmanager", config=config),
        prefix=settings.secret_prefix,
        max_age=settings.secret_max_age,
    )


def renewer(settings: Settings, config: Config) -> Renewer | None:
    """Background renewal through the refresher function, when the template names it."""
    name = settings.renewal_function_name
    if name is None:
        return None
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
    rotation.cache_clear()
    entitlement_store.cache_clear()
    get_settings.cache_clear()
