"""What can go wrong, with the service's error code and message."""

from __future__ import annotations

from typing import Any


class TokenServiceError(Exception):
    """The service refused or failed; `code` and `message` are what it answered."""

    def __init__(self, status: int | None, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class BadRequest(TokenServiceError):
    """The request was wrong (unknown region or scope, bad parameter): fix it, don't retry."""


class Forbidden(TokenServiceError):
    """This caller may not have this token (IAM, the API's policy, or the entitlement rules)."""


class UpstreamUnavailable(TokenServiceError):
    """VCC failed, refused the service's credentials or is rate limiting: retry later."""

    def __init__(
        self, status: int | None, code: str, message: str, retry_after: int | None
    ) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


class ServiceUnreachable(TokenServiceError):
    """The service could not be reached, or no AWS credentials were found to sign with."""


def error_for(status: int, body: Any, retry_after: str | None) -> TokenServiceError:
    """The exception for one of the service's (or API Gateway's) error answers."""
    if isinstance(body, dict):
        code = str(body.get("error") or "gateway")
        # API Gateway says {"message": ...}, or {"Message": ...} when IAM refuses the caller
        message = str(
            body.get("message") or body.get("Message") or body.get("error_description") or body
        )
    else:
        code, message = "unexpected_answer", f"the service answered {status}"
    if status == 403:
        return Forbidden(status, code, message)
    if status in (502, 503, 504):
        seconds = int(retry_after) if retry_after and retry_after.isdigit() else None
        return UpstreamUnavailable(status, code, message, seconds)
    if 400 <= status < 500:
        return BadRequest(status, code, message)
    return TokenServiceError(status, code, message)


def exit_code(error: TokenServiceError) -> int:
    """The CLI's exit code for a failure: 2 bad request, 3 forbidden, 4 VCC unavailable,
    5 service unreachable, 1 anything else."""
    codes = {BadRequest: 2, Forbidden: 3, UpstreamUnavailable: 4, ServiceUnreachable: 5}
    return next((code for kind, code in codes.items() if isinstance(error, kind)), 1)
