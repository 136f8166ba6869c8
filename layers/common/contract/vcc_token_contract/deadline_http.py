"""An HTTP session whose answers end at a deadline, status line and headers included.

requests' timeouts bound each socket read, not an answer: an endpoint that sends its headers a
byte at a time, each within the read timeout, holds the caller for as long as it likes. Here,
while an answer is awaited under a `Watchdog`, its connection's socket is shut down when the
deadline passes, so the blocked read returns at once and the caller knows why (`fired`). The
body is bounded by the caller's own reads (vcc_tokens.vcc.upstream reads it against the deadline);
the watchdog covers the rest.

Shared by the service (vcc_tokens.vcc.upstream: VCC's token endpoint) and the client (each attempt
against one deployment). requests and urllib3, which both sides have, are imported only when
the session is made: the service's environment serving cached tokens never imports them, and the
contract keeps no dependency of its own.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests

_CURRENT: ContextVar[Watchdog | None] = ContextVar("vcc_watchdog", default=None)


class Watchdog:
    """Shuts down the socket of an answer still awaited at `deadline` (per `clock`)."""

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock
        self.fired = False
        self._timers: list[threading.Timer] = []

    def arm(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        timer = threading.Timer(max(0.0, self.deadline - self.clock()), self._fire, (sock,))
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def _fire(self, sock: socket.socket) -> None:
        self.fired = True
        with suppress(OSError):  # already closed: nothing left to stop
            sock.shutdown(socket.SHUT_RDWR)

    def disarm(self) -> None:
        for timer in self._timers:
            timer.cancel()


@contextmanager
def watched(deadline: float, clock: Callable[[], float]) -> Iterator[Watchdog]:
    """Answers awaited inside end by `deadline`; `fired` says whether the watchdog ended one."""
    watchdog = Watchdog(deadline, clock)
    token = _CURRENT.set(watchdog)
    try:
        yield watchdog
    finally:
        watchdog.disarm()
        _CURRENT.reset(token)


def watched_session() -> requests.Session:
    """A requests.Session whose connections arm the current watchdog while awaiting an answer."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Armed:
        sock: socket.socket | None

        def getresponse(self, *args: Any, **kwargs: Any) -> Any:
            watchdog = _CURRENT.get()
            if watchdog is not None:
                watchdog.arm(self.sock)
            return super().getresponse(*args, **kwargs)  # type: ignore[misc]

    class WatchedHTTP(Armed, HTTPConnection):
        pass

    class WatchedHTTPS(Armed, HTTPSConnection):
        pass

    class Pool(HTTPConnectionPool):
        ConnectionCls = WatchedHTTP

    class TlsPool(HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPS

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TlsPool}

    session = requests.Session()
    adapter = Adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
