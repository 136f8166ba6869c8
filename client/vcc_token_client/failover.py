"""Callers that fail over between deployments (one stack per AWS region): an ordered list of
service URLs. A connection failure, the attempt's deadline or a 5xx from one moves the call to
the next; the failed one is then tried only after the others for a short, jittered time, and
first again once that time is over and it answers. A 4xx never fails over: every deployment
would say the same. When every deployment fails, the caller is told the most informative failure
(an answer beats no answer: its code and class, so its exit code) with every URL's own.

The pause can outlive the process (`FailoverMemory`, a small JSON file: the CLI keeps it in the
user's cache directory), so a job started every minute does not pay a sick deployment's deadline
at every start. The file is replaced atomically: two jobs writing at once may lose one's update
(the next call then tries that deployment once more), never corrupt it; an unreadable or
unwritable file is ignored, as if there were none.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from vcc_token_client.errors import BadRequest, ServiceUnreachable, TokenServiceError

UNHEALTHY_SECONDS = 30.0  # how long a failed deployment comes last (jittered by +-20%)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_jitter = random.SystemRandom()  # not a secret; SystemRandom is safe after a fork


def check_url(url: str) -> str:
    """A service URL, if absolute (a scheme and a host) and https, or http to this machine
    only: a signed request and the token it brings back must not cross a network in clear."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    example = "like https://abc123.execute-api.eu-west-1.amazonaws.com/v1 or http://127.0.0.1:3000"
    if scheme not in ("http", "https") or not host:
        raise BadRequest(
            None, "bad_url", f"the service URL {url[:80]!r} needs a scheme and a host, {example}"
        )
    if scheme == "http" and host not in LOOPBACK:
        raise BadRequest(
            None,
            "bad_url",
            f"the service URL {url[:80]!r} is plain http to another machine: the token would "
            "cross the network unencrypted; use https (http is for 127.0.0.1 and localhost only)",
        )
    return url.rstrip("/")


def service_urls(given: str | Sequence[str]) -> tuple[str, ...]:
    """The deployments' URLs in failover order, from a comma-separated string or a list: blank
    entries dropped, repeats folded, each checked. BadRequest when none is left."""
    entries = given.split(",") if isinstance(given, str) else list(given)
    urls = [check_url(entry.strip()) for entry in entries if entry and entry.strip()]
    if not urls:
        raise BadRequest(
            None,
            "bad_url",
            f"no service URL in {str(given)[:80]!r}: give one, or several comma-separated",
        )
    return tuple(dict.fromkeys(urls))


def most_informative(failures: Sequence[tuple[str, TokenServiceError]]) -> TokenServiceError:
    """What a caller should act on when every deployment failed: the first failure that is an
    answer (its class, status, code and Retry-After), else the first; with several URLs, its
    message names each URL with its own failure."""
    best = next((error for _, error in failures if error.status is not None), failures[0][1])
    if len(failures) == 1:
        return best
    each = [
        str(error) if isinstance(error, ServiceUnreachable) else f"{url} answered {error}"
        for url, error in failures
    ]
    return best.restated(f"every deployment failed: {'; '.join(each)}")


class FailoverMemory:
    """Until when each failed deployment comes last, shared by the processes of one user."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_user_cache(cls) -> FailoverMemory:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return cls(Path(cache) / "vcc-token" / "failover.json")

    def load(self) -> dict[str, float]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(document, dict):
            return {}
        return {
            url: float(until)
            for url, until in document.items()
            if isinstance(url, str) and isinstance(until, int | float)
        }

    def save(self, until: dict[str, float]) -> None:
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".failover-")
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(until, file)
            os.replace(temporary, self.path)


class Deployments:
    def __init__(
        self,
        urls: Sequence[str],
        unhealthy_seconds: float = UNHEALTHY_SECONDS,
        clock: Callable[[], float] = time.time,
        memory: FailoverMemory | None = None,
    ) -> None:
        self.urls = service_urls(urls)
        self._unhealthy_seconds = unhealthy_seconds
        self._clock = clock  # wall-clock time: a pause remembered by one process is read by others
        self._memory = memory
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def order(self) -> list[str]:
        """The URLs to try, in turn: the healthy ones as configured, then the failed ones, the
        soonest to recover first."""
        now = self._clock()
        with self._lock:
            self._recall()
            healthy = [url for url in self.urls if self._until.get(url, 0.0) <= now]
            failed = sorted(set(self.urls) - set(healthy), key=lambda url: self._until[url])
        return healthy + failed

    def failed(self, url: str) -> None:
        pause = self._unhealthy_seconds * _jitter.uniform(0.8, 1.2)
        with self._lock:
            self._until[url] = self._clock() + pause
            self._remember()

    def answered(self, url: str) -> None:
        with self._lock:
            if self._until.pop(url, None) is not None:
                self._remember()

    def _recall(self) -> None:
        """Pauses other processes remembered (the later one wins)."""
        if self._memory is not None:
            for url, until in self._memory.load().items():
                if url in self.urls:
                    self._until[url] = max(until, self._until.get(url, 0.0))

    def _remember(self) -> None:
        """This process's pauses for its URLs; other URLs' pauses as they were."""
        if self._memory is not None:
            now = self._clock()
            remembered = self._memory.load().items()
            kept = {url: until for url, until in remembered if url not in self.urls and until > now}
            mine = {url: until for url, until in self._until.items() if until > now}
            self._memory.save({**kept, **mine})
