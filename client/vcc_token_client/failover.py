"""Callers that fail over between deployments (one stack per AWS region): an ordered list of
service URLs. A connection failure, a timeout or a 5xx from one moves the call to the next; the
failed one is then tried only after the others for a short, jittered time, and first again once
that time is over and it answers. A 4xx never fails over: every deployment would say the same.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence

UNHEALTHY_SECONDS = 30.0  # how long a failed deployment comes last (jittered by +-20%)
_jitter = random.SystemRandom()  # not a secret; SystemRandom is safe after a fork


class Deployments:
    def __init__(
        self,
        urls: Sequence[str],
        unhealthy_seconds: float = UNHEALTHY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("no service URL")
        self.urls = tuple(url.rstrip("/") for url in urls)
        self._unhealthy_seconds = unhealthy_seconds
        self._clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def order(self) -> list[str]:
        """The URLs to try, in turn: the healthy ones as configured, then the failed ones, the
        soonest to recover first."""
        now = self._clock()
        with self._lock:
            healthy = [url for url in self.urls if self._until.get(url, 0.0) <= now]
            failed = sorted(set(self.urls) - set(healthy), key=lambda url: self._until[url])
        return healthy + failed

    def failed(self, url: str) -> None:
        pause = self._unhealthy_seconds * _jitter.uniform(0.8, 1.2)
        with self._lock:
            self._until[url] = self._clock() + pause

    def answered(self, url: str) -> None:
        with self._lock:
            self._until.pop(url, None)
