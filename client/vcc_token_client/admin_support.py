"""What every admin verb shares: its error (AdminError, carrying the exit code), an AWS client
per service, an AWS failure said in one line, and the guard around importing the service's own
code (the [admin] extra)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session

from vcc_token_client.errors import Exit


class AdminError(Exception):
    """What went wrong, for the operator; `code` is the exit code."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def service_code() -> Iterator[None]:
    """Around an import of the service's own code (vcc_tokens), which the [admin] extra brings:
    without it, one line saying how to install it (exit 1)."""
    try:
        yield
    except ModuleNotFoundError as missing:
        if (missing.name or "").partition(".")[0] != "vcc_tokens":
            raise
        raise AdminError(
            "vcc-token admin uses the service's own code, which needs Python 3.13: install it "
            "beside the client (pip install 'vcc-token-client[admin]' --find-links <the "
            "release's files>, or pip install ./layers/common from a checkout)",
            Exit.FAILED,
        ) from None


def aws_client(service: str, session: botocore.session.Session | None) -> Any:
    """A client, or an AdminError (exit 5) saying what is missing (no region, typically)."""
    try:
        return (session or botocore.session.get_session()).create_client(service)
    except Exception as exc:  # NoRegionError and the like: say which, never a traceback
        raise AdminError(
            f"cannot make an AWS {service} client ({type(exc).__name__}): set AWS_REGION "
            "(or AWS_DEFAULT_REGION) to the stack's region",
            Exit.UNREACHABLE,
        ) from None


def aws_error(exc: Exception, what: str, verb: str = "read") -> AdminError:
    code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", type(exc).__name__)
    return AdminError(f"cannot {verb} {what} ({code})", Exit.UNREACHABLE)
