"""The names both sides build and read: a token's cache item, a credential's health item (both
in the token table), a credential's secret, a lease's owner and a function's log group."""

from __future__ import annotations

import re
import uuid
from typing import NamedTuple

# The credential of a region without routes: the secret <prefix><region>, serving every scope.
DEFAULT_CREDENTIAL = "default"
# Where the secrets live by default (the template's SecretPrefix parameter defaults to it)
DEFAULT_SECRET_PREFIX = "vcc/token-vending/"
HEALTH_PREFIX = "health#"
# What a vending instance names the leases it takes (uuid4's hex).
LEASE_OWNER = re.compile(r"[0-9a-f]{32}")


class CacheKey(NamedTuple):
    """Which token an item of the token table holds."""

    region: str
    scope: str
    credential: str = DEFAULT_CREDENTIAL

    def text(self) -> str:
        """The item's `cache_key`: `region#scope`, plus `#credential` for a named credential
        (a default credential's keys are those of before credentials had names)."""
        if self.credential == DEFAULT_CREDENTIAL:
            return f"{self.region}#{self.scope}"
        return f"{self.region}#{self.scope}#{self.credential}"

    @classmethod
    def parse(cls, text: str) -> CacheKey:
        region, _, rest = text.partition("#")
        scope, _, credential = rest.partition("#")
        return cls(region, scope, credential or DEFAULT_CREDENTIAL)


def health_key(region: str, credential: str) -> str:
    """The `cache_key` of a credential's health item."""
    return f"{HEALTH_PREFIX}{region}#{credential}"


def health_credential(cache_key: str) -> str | None:
    """`region/credential` for a health item's key; None for any other item (a token's)."""
    if not cache_key.startswith(HEALTH_PREFIX):
        return None
    region, _, credential = cache_key.removeprefix(HEALTH_PREFIX).partition("#")
    return f"{region}/{credential}"


def secret_name(prefix: str, region: str, credential: str) -> str:
    """A credential's secret: `<prefix><region>`, or `<prefix><region>/<credential>`."""
    if credential == DEFAULT_CREDENTIAL:
        return f"{prefix}{region}"
    return f"{prefix}{region}/{credential}"


def new_lease_owner() -> str:
    return uuid.uuid4().hex


def log_group(stack: str, function: str) -> str:
    """A function's log group (the template names them so): `refresher` or `vend`."""
    return f"/aws/lambda/{stack}/{function}"
