"""Settings, read once from the environment and validated.

A missing or malformed setting raises ConfigurationError naming the variable and what is allowed,
at the first request of an execution environment, instead of a KeyError deep inside a request.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from functools import lru_cache
from typing import Any, cast
from urllib.parse import urlsplit

from vcc_token_contract.api import DEFAULT_MIN_TTL, MAX_MIN_TTL
from vcc_token_contract.events import DEFAULT_RENEW_RATE_MINUTES
from vcc_token_contract.vcc import DEFAULT_REGION, REGIONS, SCOPES, TOKEN_URL_TEMPLATE
from vcc_tokens.values.backoff import Backoff
from vcc_tokens.values.routes import NO_ROUTES, CredentialRoutes, RouteError, parse_routes


class ConfigurationError(Exception):
    """A setting is missing or invalid: a deployment mistake, not a caller's."""


@dataclass(frozen=True)
class Setting:
    """How one environment variable is read: its bounds and what it means. The Settings fields
    below carry one each; from_env reads them and docs/configuration.md's table is made from
    them (generators/configuration_doc.py), so a default or a range lives here alone."""

    variable: str
    meaning: str
    low: float | None = None  # numbers: the allowed range
    high: float | None = None
    scale: int = 1  # what the variable's unit is worth in the field's (minutes: 60)
    choices: tuple[str, ...] = ()  # texts: the allowed values, if few
    template: str = ""  # the template parameter that sets it, if any
    shown_default: str = ""  # the default as the docs show it, where it is not the field's
    formerly: str = ""  # the variable's former name, still read when the new one is not set


def setting(default: Any, variable: str, meaning: str, **spec: Any) -> Any:
    """A Settings field read from `variable` (dataclasses.MISSING as default: required)."""
    metadata = {"setting": Setting(variable, meaning, **spec)}
    if default is MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """The service's settings: the environment variables the template sets, each read once and
    validated (a wrong value names the variable and what is allowed)."""

    table_name: str = setting(
        MISSING, "TOKEN_TABLE_NAME", "DynamoDB cache table", shown_default="the stack's table"
    )
    secret_prefix: str = setting(
        MISSING,
        "VCC_SECRET_PREFIX",
        "a region's default secret is `<prefix><region>`, a named credential's "
        "`<prefix><region>/<name>`",
        template="SecretPrefix",
    )
    kms_key_id: str = setting(
        MISSING,
        "TOKEN_KMS_KEY_ID",
        "the key that wraps the data keys sealing cached tokens",
        shown_default="the stack's key",
    )
    entitlements_parameter: str = setting(
        MISSING,
        "ENTITLEMENTS_PARAMETER",
        "the entitlement rules' SSM parameter",
        template="EntitlementsParameterName",
    )
    default_vcc_region: str = setting(
        DEFAULT_REGION,
        "DEFAULT_VCC_REGION",
        "the region of `POST /oauth2/token` requests that name none",
        choices=REGIONS,
        template="DefaultVccRegion",
    )
    entitlements_max_age: int = setting(
        60, "ENTITLEMENTS_MAX_AGE", "seconds the rules are cached", low=0, high=3600
    )
    token_url_template: str = setting(
        TOKEN_URL_TEMPLATE,
        "VCC_TOKEN_URL_TEMPLATE",
        "token endpoint; `{region}` is optional. The legacy "
        "`https://{region}.newvoicemedia.com/Auth/connect/token` works too. Plain `http` is "
        "refused unless the host is loopback",
        template="TokenUrlTemplate",
    )
    allowed_scopes: frozenset[str] = setting(
        frozenset(SCOPES),
        "ALLOWED_SCOPES",
        "comma-separated allow-list of scopes",
        template="AllowedScopes",
        shown_default="every scope VCC documents",
    )
    credential_routes: CredentialRoutes = setting(  # noqa: RUF009 - a field(), its default frozen
        NO_ROUTES,
        "VCC_CREDENTIALS",
        "which credential serves which scopes, per region (JSON; see "
        "[Credentials](credentials.md))",
        template="CredentialRoutes",
        shown_default="none: one credential per region",
    )
    fallback_expires_in: int = setting(
        900,
        "FALLBACK_EXPIRES_IN",
        "lifetime assumed when VCC omits `expires_in` (RFC 6749 only RECOMMENDS it)",
        low=60,
        high=86_400,
    )
    min_token_lifetime: int = setting(
        60,
        "MIN_TOKEN_LIFETIME_SECONDS",
        "shortest `expires_in` taken from VCC; shorter is a bad answer (502): a fetch per "
        "request otherwise",
        low=1,
        high=3600,
    )
    max_token_lifetime: int = setting(
        365 * 86_400,
        "MAX_TOKEN_LIFETIME_SECONDS",
        "longest `expires_in` taken from VCC",
        low=3600,
        high=365 * 86_400,
    )
    clock_skew_seconds: float = setting(
        5.0,
        "CLOCK_SKEW_SECONDS",
        "how far instances' clocks may disagree: a lease is taken over, a remembered failure "
        "ends and a token stops being served this much later",
        low=0,
        high=30,
    )
    connect_timeout: float = setting(
        3.05, "UPSTREAM_CONNECT_TIMEOUT", "one VCC attempt's connect timeout", low=0.1, high=10
    )
    read_timeout: float = setting(
        5.0, "UPSTREAM_READ_TIMEOUT", "one VCC attempt's read timeout", low=0.1, high=20
    )
    upstream_budget: float = setting(
        8.0, "UPSTREAM_BUDGET_SECONDS", "one fetch's budget, retries included", low=0.5, high=20
    )
    upstream_max_attempts: int = setting(
        3, "UPSTREAM_MAX_ATTEMPTS", "attempts of one fetch", low=1, high=5
    )
    renew_ahead_budget: float = setting(
        1.5,
        "RENEW_AHEAD_BUDGET_SECONDS",
        "without a renewal function, the budget of a renewal inside a caller's request while "
        "its token is still valid",
        low=0.5,
        high=20,
    )
    renewal_function_name: str | None = setting(
        None,
        "RENEWAL_FUNCTION_NAME",
        "the function that renews due keys in the background (asynchronous invocation); "
        "unset: renewal inside the request",
        shown_default="the stack's RefreshFunction",
    )
    secret_max_age: int = setting(
        300, "SECRET_MAX_AGE", "seconds a secret is cached in memory", low=0, high=3600
    )
    rotation_grace_seconds: int = setting(
        3600,
        "ROTATION_GRACE_SECONDS",
        "how long VCC may take to accept a re-issued secret: while the version is younger, a "
        "rejected current secret is retried with `AWSPREVIOUS` and a refused pending one is "
        "proven again (0: never)",
        low=0,
        high=7 * 86_400,
    )
    default_min_ttl: int = setting(
        DEFAULT_MIN_TTL, "DEFAULT_MIN_TTL", "`min_ttl` when a caller gives none", low=0, high=3600
    )
    max_min_ttl: int = setting(
        MAX_MIN_TTL, "MAX_MIN_TTL", "the largest `min_ttl`", low=0, high=3600
    )
    renew_margin_seconds: int = setting(
        60,
        "RENEW_MARGIN_SECONDS",
        "renew once less than max(seconds, fraction x lifetime) is left: the seconds",
        low=0,
        high=3600,
        formerly="REFRESH_MARGIN_SECONDS",
    )
    renew_margin_fraction: float = setting(
        0.2,
        "RENEW_MARGIN_FRACTION",
        "and the fraction",
        low=0,
        high=0.9,
        formerly="REFRESH_MARGIN_FRACTION",
    )
    memory_cache_seconds: float = setting(
        30.0,
        "MEMORY_CACHE_SECONDS",
        "how stale an instance's in-memory copy may be; also how long a purged token may still "
        "be served (0 turns it off)",
        low=0,
        high=300,
    )
    forced_refresh_interval: int = setting(
        30,
        "FORCED_REFRESH_INTERVAL",
        "at most one body-less forced refresh per key per interval",
        low=1,
        high=3600,
    )
    renew_rate_seconds: int = setting(
        DEFAULT_RENEW_RATE_MINUTES * 60,
        "RENEW_RATE_MINUTES",
        "the scheduled refresher's period in minutes, also how far ahead it renews",
        low=1,
        high=60,
        scale=60,
        template="RefreshRateMinutes",
        formerly="REFRESH_RATE_MINUTES",
    )
    idle_seconds: int = setting(
        3600,
        "RENEW_IDLE_SECONDS",
        "keys nobody asked for in this long are not renewed: left to expire",
        low=60,
        high=7 * 86_400,
        formerly="REFRESH_IDLE_SECONDS",
    )
    backoff_base_seconds: float = setting(
        2.0,
        "BACKOFF_BASE_SECONDS",
        "failure memory: after n failures in a row, nobody asks VCC again for between half "
        "and all of base x 2^(n-1) s, at most the cap; VCC's Retry-After wins",
        low=0.1,
        high=60,
    )
    backoff_cap_seconds: int = setting(
        300, "BACKOFF_CAP_SECONDS", "the failure memory's cap", low=1, high=3600
    )
    rejected_backoff_cap_seconds: int = setting(
        60,
        "REJECTED_BACKOFF_CAP_SECONDS",
        "the cap for answers that need an operator (`invalid_client`, `invalid_scope`, bad "
        "answers)",
        low=1,
        high=3600,
    )
    aws_connect_timeout: float = setting(
        1.0, "AWS_CONNECT_TIMEOUT", "every AWS client's connect timeout", low=0.1, high=5
    )
    aws_read_timeout: float = setting(
        1.0, "AWS_READ_TIMEOUT", "every AWS client's read timeout", low=0.1, high=5
    )
    aws_max_attempts: int = setting(
        2,
        "AWS_MAX_ATTEMPTS",
        "every AWS client's attempts (standard retry mode): one call takes at most attempts x "
        "(connect + read) + (attempts - 1) s",
        low=1,
        high=3,
    )
    request_budget: float = setting(
        18.0,
        "REQUEST_BUDGET_SECONDS",
        "no request outlives it (the function's timeout is 25 s, API Gateway's 29 s); at least "
        "a fetch and two AWS calls, checked at start-up",
        low=1,
        high=28,
    )
    entitlements_grace_seconds: int = setting(
        300,
        "ENTITLEMENTS_GRACE_SECONDS",
        "how long the rules last read are used while SSM is throttling or unreachable (0: "
        "refuse at once)",
        low=0,
        high=3600,
    )

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
    def failure_backoff(self) -> Backoff:
        """How long a key's failure memory forbids fetching it, after each failure in a row."""
        return Backoff(
            base=self.backoff_base_seconds,
            cap=self.backoff_cap_seconds,
            rejected_cap=self.rejected_backoff_cap_seconds,
        )

    @property
    def wait_seconds(self) -> float:
        """How long a caller waits for another instance's fetch, including taking over a dead
        holder's lease (after the clock-skew tolerance) and fetching itself: 9 + 5 + 8 = 22 s
        by default; the request's deadline (vcc_tokens.aws.clients) ends the wait sooner."""
        return self.lease_seconds + self.clock_skew_seconds + self.upstream_budget

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        reader = _EnvReader(env)
        values: dict[str, Any] = {}
        for spec_field in fields(cls):
            spec: Setting = spec_field.metadata["setting"]
            if spec_field.name == "allowed_scopes":
                values["allowed_scopes"] = allowed_scopes(env)
            elif spec_field.name == "credential_routes":
                values["credential_routes"] = reader.routes(spec.variable, values["allowed_scopes"])
            else:
                values[spec_field.name] = reader.value(spec, spec_field.default)
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        """What no single variable can say: the settings together."""
        _check_token_url_template(self.token_url_template)
        if self.default_min_ttl > self.max_min_ttl:
            raise ConfigurationError("DEFAULT_MIN_TTL must not exceed MAX_MIN_TTL")
        if self.fallback_expires_in < self.min_token_lifetime:
            raise ConfigurationError(
                "FALLBACK_EXPIRES_IN must be at least MIN_TOKEN_LIFETIME_SECONDS"
            )
        least_budget = 2 * self.aws_call_seconds + 1  # room to fetch, then to store
        if self.request_budget < least_budget:
            raise ConfigurationError(
                f"REQUEST_BUDGET_SECONDS must be at least {least_budget:g} with these AWS "
                f"timeouts: room for a 1 s fetch and two AWS calls of up to "
                f"{self.aws_call_seconds:g} s each (vcc_tokens/aws/clients.py)"
            )


def allowed_scopes(env: Mapping[str, str]) -> frozenset[str]:
    """ALLOWED_SCOPES (comma-separated), or every scope VCC documents: the settings' own
    reading, for what needs no other setting (vcc-token admin)."""
    (scopes,) = [f for f in fields(Settings) if f.name == "allowed_scopes"]
    default = cast(frozenset[str], scopes.default)
    return _EnvReader(env).scopes(scopes.metadata["setting"].variable, default)


def setting_from_env(name: str, env: Mapping[str, str]) -> Any:
    """One setting (a Settings field's name) as the service reads it, former names included,
    for what needs no other setting (make run)."""
    (spec_field,) = [f for f in fields(Settings) if f.name == name]
    return _EnvReader(env).value(spec_field.metadata["setting"], spec_field.default)


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

    def value(self, spec: Setting, default: Any) -> Any:
        """The variable read as its field's default is typed (no default: required text)."""
        name = self._name(spec)
        if default is MISSING:
            return self.text(name)
        if default is None:
            return self.optional_text(name)
        if spec.choices:
            return self.choice(name, default, spec.choices)
        if isinstance(default, str):
            return self.text(name, default)
        low, high = spec.low or 0, spec.high if spec.high is not None else float("inf")
        if isinstance(default, int):
            return spec.scale * self.integer(
                name, default // spec.scale, low=int(low), high=int(high)
            )
        return self.seconds(name, float(default), low=low, high=high)

    def _name(self, spec: Setting) -> str:
        """The variable to read: its name, or its former one when only that is set (so an
        error names what was set); both set, they must agree."""
        former = self._raw(spec.formerly) if spec.formerly else None
        if former is None:
            return spec.variable
        current = self._raw(spec.variable)
        if current is not None and current != former:
            raise ConfigurationError(
                f"{spec.formerly} is the former name of {spec.variable}, and the two differ "
                f"({former!r}, {current!r}): set {spec.variable} only"
            )
        return spec.variable if current is not None else spec.formerly

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
