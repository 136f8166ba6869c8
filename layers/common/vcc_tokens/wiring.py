"""Builds the service's collaborators once per execution environment, on first use.

Nothing here runs at import time, so importing a handler creates no boto3 client and reads no
environment variable; tests reset everything with `reset()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from vcc_tokens.cache import DynamoDBTokenCache, TokenCache
from vcc_tokens.config import Settings, get_settings
from vcc_tokens.credentials import CredentialStore, SecretsManagerCredentialStore
from vcc_tokens.upstream import TokenEndpoint, VccTokenEndpoint


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    cache: TokenCache
    credentials: CredentialStore
    upstream: TokenEndpoint


@lru_cache(maxsize=1)
def dependencies() -> Dependencies:
    settings = get_settings()
    return Dependencies(
        settings=settings,
        cache=DynamoDBTokenCache(boto3.client("dynamodb"), settings.table_name),
        credentials=SecretsManagerCredentialStore(
            SecretsProvider(boto3_client=boto3.client("secretsmanager")),
            prefix=settings.secret_prefix,
            max_age=settings.secret_max_age,
        ),
        upstream=VccTokenEndpoint(
            settings.token_url,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            fallback_expires_in=settings.fallback_expires_in,
        ),
    )


def reset() -> None:
    """Forget settings and clients, e.g. after a test changed the environment."""
    dependencies.cache_clear()
    get_settings.cache_clear()
