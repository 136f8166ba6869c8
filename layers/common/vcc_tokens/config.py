"""Settings, read once from the environment and validated.

A missing or malformed setting raises ConfigurationError naming the variable and what is allowed,
at the first request of an execution environment, instead of a KeyError deep inside a request.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from vcc_tokens.routes import NO_ROUTES, CredentialRoutes, RouteError, parse_routes

REGIONS: tuple[str, ...] = ("emea", "nam", "apac")

DEFAULT_TOKEN_URL_TEMPLATE = "https://{region}.cc.vonage.com/Auth/connect/token"

# The scopes VCC documents (FACTS.md); the default allow-list, replaceable with ALLOWED_SCOPES.
DOCUMENTED_SCOPES: tuple[str, ...] = (
    "agents-availability:read",
    "users:read",
    "users:write",
    "interaction-content:read",
    "interaction-content:delete",
    "interactions:write",
    "stats",
    "globalpci",
    "admin:read",
    "admin:write",
)


class ConfigurationError(Exception):
    """A setting is missing or invalid: a deployment mistake, not a caller's."""


@dataclass(frozen=True)
class Settings:
    """Every field with a default here is optional in the environment, with that default."""

    table_name: str
    secret_prefix: str
    kms_key_id: str
    entitlements_parameter: str
    default_vcc_region: str = "emea"  # for POST /oauth2/token without a region
    entitlements_max_age: int = 60
    token_url_template: str = DEFAULT_TOKEN_URL_TEMPLATE
    allowed_scopes: frozenset[str] = frozenset(DOCUMENTED_SCOPES)
    # Which credential serves which scope of a region (vcc_tokens.routes); none: one per region
    credential_routes: CredentialRoutes = NO_ROUTES
    # Used when the token endpoint omits expires_in, which RFC 6749 only RECOMMENDS.
    fallback_expires_in: int = 900
    # An expires_in outside these bounds is a bad answer (502), not a token: a lifetime of 1 s
    # would mean a fetch per request, one of 10**12 s a date nobody can compute.
    min_token_lifetime: int = 60
    max_token_lifetime: int = 365 * 86_400
    # How far instances' clocks may disagree: a lease is taken over, a remembered failure
    # ends and a token stops being served this much later than a single clock would say.
    clock_skew_seconds: float = 5.0
    connect_timeout: float = 3.05
    read_timeout: float = 5.0
    upstream_budget: float = 8.0  # one fetch, retries included
    upstream_max_attempts: int = 3
    # A caller renewing a token inside its margin holds a valid one: it waits at most this long
    renew_ahead_budget: float = 1.5
    # The refresher function that renews keys in the background (vcc_tokens.renewal); unset:
    # the request renews inline, within renew_ahead_budget
    renewal_function_name: str | None = None
    secret_max_age: int = 300
    # After a rotation, how long a credential whose new secret VCC rejects (invalid_client)
    # falls back to its previous secret (AWSPREVIOUS) while VCC propagates the re-issue
    rotation_grace_seconds: int = 3600
    default_min_ttl: int = 60
    max_min_ttl: int = 600
    # Refresh-ahead: renew once less than max(seconds, fraction x lifetime) is left.
    refresh_margin_seconds: int = 60
    refresh_margin_fraction: float = 0.2
    memory_cache_seconds: float = 30.0  # how stale an instance's in-memory copy may be
    forced_refresh_interval: int = 30  # at most one body-less forced refresh per key per interval
    refresh_rate_seconds: int = 300  # the scheduled refresher's period
    idle_seconds: int = 3600  # keys nobody asked for in this long are left to expire
    # Failure memory (vcc_tokens.backoff): after VCC fails for a key, nobody asks again for
    # about base x 2^(n-1) s (n failures in a row), at most the cap; VCC's Retry-After wins.
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: int = 300
    rejected_backoff_cap_seconds: int = 60  # invalid_client, invalid_scope, bad answers
    # AWS calls and the request deadline (the arithmetic is in vcc_tokens/aws.py)
    aws_connect_timeout: float = 1.0
    aws_read_timeout: float = 1.0
    aws_max_attempts: int = 2
    request_budget: float = 18.0  # no request outlives it; the function's timeout is 25 s
    entitlements_grace_seconds: int = 300  # last good rules kept through an SSM outage

    @property
    def aws_call_seconds(self) -> float:
        """The longest one AWS call can take: its attempts, and standard mode's backoff
        between them (at most 1 s each, for the few attempts allowed here)."""
        attempts = self.aws_max_attempts
        return attempts * (self.aws_connect_timeout + self.aws_read_timeout) + (attempts - 1)

    def token_url(self, region: str) -> str:
        return self.token_url_template.format(region=region)

    @property
    def lease_seconds(self) -> float:
        """How long a fetch may hold a key's lease: one fetch's whole budget, and a second."""
        return self.upstream_budget + 1.0

    @property
    def wait_seconds(self) -> float:
        """How long a caller waits for another instance's fetch, including taking over a dead
        holder's lease (after the clock-skew tolerance) and fetching itself: 9 + 5 + 8 = 22 s
        by default; the request's deadline (vcc_tokens.aws) ends the wait sooner."""
        return self.lease_seconds + self.clock_skew_seconds + self.upstream_budget

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        reader = _EnvReader(env)
        settings = cls(
            table_name=reader.text("TOKEN_TABLE_NAME"),
            secret_prefix=reader.text("VCC_SECRET_PREFIX"),
            kms_key_id=reader.text("TOKEN_KMS_KEY_ID"),
            entitlements_parameter=reader.text("ENTITLEMENTS_PARAMETER"),
            entitlements_max_age=reader.integer(
                "ENTITLEMENTS_MAX_AGE", cls.entitlements_max_age, low=0, high=3600
            ),
            default_vcc_region=reader.choice("DEFAULT_VCC_REGION", cls.default_vcc_region, REGIONS),
            token_url_template=reader.text("VCC_TOKEN_URL_TEMPLATE", cls.token_url_template),
            allowed_scopes=(allowed := allowed_scopes(env)),
            credential_routes=reader.routes("VCC_CREDENTIALS", allowed),
            fallback_expires_in=reader.integer(
                "FALLBACK_EXPIRES_IN", cls.fallback_expires_in, low=60, high=86_400
            ),
            min_token_lifetime=reader.integer(
                "MIN_TOKEN_LIFETIME_SECONDS", cls.min_token_lifetime, low=1, high=3600
            ),
            max_token_lifetime=reader.integer(
                "MAX_TOKEN_LIFETIME_SECONDS", cls.max_token_lifetime, low=3600, high=365 * 86_400
            ),
            clock_skew_seconds=reader.seconds(
                "CLOCK_SKEW_SECONDS", cls.clock_skew_seconds, low=0, high=30
            ),
            connect_timeout=reader.seconds(
                "UPSTREAM_CONNECT_TIMEOUT", cls.connect_timeout, low=0.1, high=10
            ),
            read_timeout=reader.seconds(
                "UPSTREAM_READ_TIMEOUT", cls.read_timeout, low=0.1, high=20
            ),
            upstream_budget=reader.seconds(
                "UPSTREAM_BUDGET_SECONDS", cls.upstream_budget, low=0.5, high=20
            ),
            renewal_function_name=reader.optional_text("RENEWAL_FUNCTION_NAME"),
            renew_ahead_budget=reader.seconds(
                "RENEW_AHEAD_BUDGET_SECONDS", cls.renew_ahead_budget, low=0.5, high=20
            ),
            upstream_max_attempts=reader.integer(
                "UPSTREAM_MAX_ATTEMPTS", cls.upstream_max_attempts, low=1, high=5
            ),
            secret_max_age=reader.integer("SECRET_MAX_AGE", cls.secret_max_age, low=0, high=3600),
            rotation_grace_seconds=reader.integer(
                "ROTATION_GRACE_SECONDS", cls.rotation_grace_seconds, low=0, high=7 * 86_400
            ),
            default_min_ttl=reader.integer(
                "DEFAULT_MIN_TTL", cls.default_min_ttl, low=0, high=3600
            ),
            max_min_ttl=reader.integer("MAX_MIN_TTL", cls.max_min_ttl, low=0, high=3600),
            refresh_margin_seconds=reader.integer(
                "REFRESH_MARGIN_SECONDS", cls.refresh_margin_seconds, low=0, high=3600
            ),
            refresh_margin_fraction=reader.seconds(
                "REFRESH_MARGIN_FRACTION", cls.refresh_margin_fraction, low=0, high=0.9
            ),
            memory_cache_seconds=reader.seconds(
                "MEMORY_CACHE_SECONDS", cls.memory_cache_seconds, low=0, high=300
            ),
            forced_refresh_interval=reader.integer(
                "FORCED_REFRESH_INTERVAL", cls.forced_refresh_interval, low=1, high=3600
            ),
            refresh_rate_seconds=60
            * reader.integer(
                "REFRESH_RATE_MINUTES", cls.refresh_rate_seconds // 60, low=1, high=60
            ),
            idle_seconds=reader.integer(
                "REFRESH_IDLE_SECONDS", cls.idle_seconds, low=60, high=7 * 86_400
            ),
            backoff_base_seconds=reader.seconds(
                "BACKOFF_BASE_SECONDS", cls.backoff_base_seconds, low=0.1, high=60
            ),
            backoff_cap_seconds=reader.integer(
                "BACKOFF_CAP_SECONDS", cls.backoff_cap_seconds, low=1, high=3600
            ),
            rejected_backoff_cap_seconds=reader.integer(
                "REJECTED_BACKOFF_CAP_SECONDS", cls.rejected_backoff_cap_seconds, low=1, high=3600
            ),
            aws_connect_timeout=reader.seconds(
                "AWS_CONNECT_TIMEOUT", cls.aws_connect_timeout, low=0.1, high=5
            ),
            aws_read_timeout=reader.seconds(
                "AWS_READ_TIMEOUT", cls.aws_read_timeout, low=0.1, high=5
            ),
            aws_max_attempts=reader.integer(
                "AWS_MAX_ATTEMPTS", cls.aws_max_attempts, low=1, high=3
            ),
            request_budget=reader.seconds(
                "REQUEST_BUDGET_SECONDS", cls.request_budget, low=1, high=28
            ),
            entitlements_grace_seconds=reader.integer(
                "ENTITLEMENTS_GRACE_SECONDS", cls.entitlements_grace_seconds, low=0, high=3600
            ),
        )
        _check_token_url_template(settings.token_url_template)
        if settings.default_min_ttl > settings.max_min_ttl:
            raise ConfigurationError("DEFAULT_MIN_TTL must not exceed MAX_MIN_TTL")
        if settings.fallback_expires_in < settings.min_token_lifetime:
            raise ConfigurationError(
                "FALLBACK_EXPIRES_IN must be at least MIN_TOKEN_LIFETIME_SECONDS"
            )
        least_budget = 2 * settings.aws_call_seconds + 1  # room to fetch, then to store
        if settings.request_budget < least_budget:
            raise ConfigurationError(
                f"REQUEST_BUDGET_SECONDS must be at least {least_budget:g} with these AWS "
                f"timeouts: room for a 1 s fetch and two AWS calls of up to "
                f"{settings.aws_call_seconds:g} s each (vcc_tokens/aws.py)"
            )
        return settings


def allowed_scopes(env: Mapping[str, str]) -> frozenset[str]:
    """ALLOWED_SCOPES (comma-separated), or every scope VCC documents."""
    return _EnvReader(env).scopes("ALLOWED_SCOPES", frozenset(DOCUMENTED_SCOPES))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this execution environment, parsed on first use."""
    return Settings.from_env(os.environ)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_token_url_template(template: str) -> None:
    name = "VCC_TOKEN_URL_TEMPLATE"
    try:
        url = urlsplit(template.format(region=REGIONS[0]))
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigurationError(
            f"{name} may contain only the placeholder {{region}}: {template!r}"
        ) from exc
    if not url.hostname:
        raise ConfigurationError(f"{name} must be an absolute URL: {template!r}")
    if url.scheme == "http" and not is_loopback(url.hostname):
        raise ConfigurationError(f"{name} must use https (plain http only for a loopback host)")
    if url.scheme not in ("https", "http"):
        raise ConfigurationError(f"{name} must use https: {template!r}")


class _EnvReader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str | None = None) -> str:
        value = self._raw(name) or default
        if value is None:
            raise ConfigurationError(f"{name} is not set")
        return value

    def optional_text(self, name: str) -> str | None:
        return self._raw(name)

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name, default)
        if value not in allowed:
            raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        return int(self._number(name, default, low=low, high=high, kind=int))

    def seconds(self, name: str, default: float, *, low: float, high: float) -> float:
        return self._number(name, default, low=low, high=high, kind=float)

    def _number(self, name: str, default: float, *, low: float, high: float, kind: type) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigurationError(
                f"{name} must be a number from {low} to {high}, got {raw!r}"
            ) from None
        if not low <= value <= high:
            raise ConfigurationError(f"{name} must be from {low} to {high}, got {value}")
        return float(value)

    def routes(self, name: str, allowed: frozenset[str]) -> CredentialRoutes:
        try:
            return parse_routes(self._raw(name), REGIONS, allowed)
        except RouteError as error:
            raise ConfigurationError(f"{name} {error}") from None

    def scopes(self, name: str, default: frozenset[str]) -> frozenset[str]:
        raw = self._raw(name)
        if raw is None:
            return default
        scopes = frozenset(part.strip() for part in raw.split(",") if part.strip())
        if not scopes:
            raise ConfigurationError(f"{name} must list at least one scope, comma-separated")
        return scopes
