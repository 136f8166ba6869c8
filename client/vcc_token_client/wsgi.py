"""What the token proxy and the local API front share as WSGI apps on waitress."""

from __future__ import annotations

import logging
from typing import Any


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers, named as a client sent them (Content-Type, X-Amz-Date...)."""
    headers = {
        name[5:].replace("_", "-").title(): value
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").title()] = environ[name]
    return headers


def stop(server: Any) -> None:
    """Stop a running waitress server from another thread: close the listener and every
    connection, then its worker threads (as WebTest's StopableWSGIServer does)."""
    logging.getLogger("waitress").setLevel(logging.CRITICAL)  # no asyncore tracebacks
    while server._map:
        for channel in list(server._map.values()):
            channel.handle_close()
    server.task_dispatcher.shutdown()
