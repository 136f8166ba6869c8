"""What `make run` reads before it starts anything (ports, callers, rules, the upstream, the
refresher's rate), checked so that a mistake starts nothing: each is one line and exit 2."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcc_token_client.testing.sigv4 import load_callers

from local.stack import ROOT, load_template

TABLE = "vcc-tokens-local"


SECRET_PREFIX = "vcc/local/"


DEFAULT_CALLERS = ROOT / "local" / "callers.json"


DEFAULT_ENTITLEMENTS = ROOT / "local" / "entitlements.json"


ENTITLEMENTS_PARAMETER = "/vcc-token-vending/local/entitlements"


DEFAULT_ACCOUNTS = "111122223333,444455556666"  # local/callers.json's, but for the outsider


class StartupError(Exception):
    """A clear reason the stack cannot start (a port in use, a bad setting)."""


@dataclass(frozen=True)
class Upstream:
    token_url_template: str
    client_id: str
    client_secret: str
    auth_method: str | None
    # (client_id, client_secret) per region, when each region has its own (the emulator's)
    per_region: dict[str, tuple[str, str]] = field(default_factory=dict)


def port_setting(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise StartupError(f"{name} must be a port number from 0 to 65535, got {raw!r}")
    return int(raw)


def bind(name: str, port: int, start: Callable[[], Any]) -> Any:
    """Start a server, turning 'address in use' into a message that says what to do (checked
    first too: moto's server prints its own message and exits the process instead)."""
    in_use = StartupError(f"port {port} is in use; set {name} to a free port")
    if port:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise in_use from None
    try:
        return start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise in_use from None
        raise


def configured_upstream() -> Upstream | None:
    names = ("VCC_TOKEN_URL_TEMPLATE", "VCC_CLIENT_ID", "VCC_CLIENT_SECRET")
    values = [os.environ.get(name, "") for name in names]
    if not any(values):
        return None
    if not all(values):
        missing = ", ".join(name for name, value in zip(names, values, strict=True) if not value)
        raise StartupError(f"a configured upstream needs {', '.join(names)}; missing: {missing}")
    url, client_id, client_secret = values
    return Upstream(url, client_id, client_secret, os.environ.get("VCC_AUTH_METHOD") or None)


def failing_runs() -> int:
    raw = os.environ.get("LOCAL_FAILING_RUNS", "0")
    if not raw.isdigit() or int(raw) > 100:
        raise StartupError(
            f"LOCAL_FAILING_RUNS must be a number of runs from 0 to 100, got {raw!r}"
        )
    return int(raw)


def read_entitlements(path: Path) -> str:
    """The rules file, checked now so that a mistake is reported at start-up, not per request."""
    # Imported here: vcc_tokens sets up Powertools, which must see the function environment first.
    from vcc_token_contract.entitlements import InvalidEntitlements, parse_entitlements

    try:
        document = path.read_text(encoding="utf-8")
        parse_entitlements(document)
    except (OSError, InvalidEntitlements) as problem:
        raise StartupError(f"entitlements file {path}: {problem}") from None
    return document


def renew_rate_minutes() -> int:
    """The refresher's period as the service reads it (RENEW_RATE_MINUTES, or its former name
    REFRESH_RATE_MINUTES): make run's schedule and the functions' setting are one value."""
    from vcc_tokens.values.config import ConfigurationError, setting_from_env

    try:
        return int(setting_from_env("renew_rate_seconds", os.environ)) // 60
    except ConfigurationError as problem:
        raise StartupError(str(problem)) from None


def check_settings() -> None:
    """The functions' settings as the stack seeded them: a configuration error stops the start
    in one line, instead of answering every request 500."""
    from vcc_tokens.values.config import ConfigurationError, Settings

    try:
        Settings.from_env(os.environ)
    except ConfigurationError as problem:
        raise StartupError(f"the service's settings: {problem}") from None


@dataclass(frozen=True)
class Inputs:
    """What `make run` reads before it starts anything: a mistake here starts nothing."""

    port: int
    callers_path: Path
    callers: dict[str, Any]
    entitlements_path: Path
    entitlements: str
    upstream: Upstream | None  # None: the emulator
    template: dict[str, Any]
    rate: int  # the refresher's, in minutes
    failing_runs: int  # how many scheduled runs fail on purpose (LOCAL_FAILING_RUNS)
    alarm_time_scale: float  # the alarms' periods divided by it (LOCAL_ALARM_TIME_SCALE)

    @classmethod
    def read(cls) -> Inputs:
        callers_path = Path(os.environ.get("LOCAL_CALLERS") or DEFAULT_CALLERS)
        entitlements_path = Path(os.environ.get("LOCAL_ENTITLEMENTS") or DEFAULT_ENTITLEMENTS)
        template = load_template()
        return cls(
            port_setting("PORT", 3000),
            callers_path,
            load_callers(callers_path),
            entitlements_path,
            read_entitlements(entitlements_path),
            configured_upstream(),
            template,
            renew_rate_minutes(),
            failing_runs(),
            alarm_time_scale(),
        )


def alarm_time_scale() -> float:
    raw = os.environ.get("LOCAL_ALARM_TIME_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not 1 <= scale <= 3600:
        raise StartupError(f"LOCAL_ALARM_TIME_SCALE must be a number from 1 to 3600, got {raw!r}")
    return scale
