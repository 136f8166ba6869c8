"""Typed errors of the token service, each with the HTTP answer it maps to.

Messages never include a token, a client secret or an Authorization header. `message` is for
the log (it may name a secret, a parameter, a table or a key ARN); `public_message` is what a
caller is told, and names only the service, the error code, regions and scopes: callers may sit
in other accounts of the organization.
"""

from __future__ import annotations

from typing import ClassVar

from vcc_token_contract.api import ERROR_STATUS


class VendError(Exception):
    """Base class: `code` and `status` become the JSON error body and the HTTP status; each
    code's status is the API contract's (vcc_token_contract.api.ERROR_STATUS)."""

    code = "internal_error"
    status: ClassVar[int] = ERROR_STATUS[code]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.status = ERROR_STATUS[cls.code]

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After when set

    @property
    def public_message(self) -> str:
        """What a caller is told (the log has `message`)."""
        return self.message


# The caller's mistakes (4xx)
class InvalidRequest(VendError):
    code = "invalid_request"


class UnknownRegion(InvalidRequest):
    code = "unknown_region"


class UnknownScope(InvalidRequest):
    code = "unknown_scope"


class ScopeNotServed(UnknownScope):
    """An allowed scope that no credential of the region is routed to (vcc_tokens.values.routes)."""

    code = "scope_not_served"


class Forbidden(VendError):
    """No entitlement rule lets this caller have this (region, scope)."""

    code = "forbidden"


# Our own configuration (5xx, for the operator)
class CredentialsUnavailable(VendError):
    """The region's secret is missing, unreadable or malformed."""

    code = "credentials_unavailable"
    public_message = (
        "the service's VCC client credentials for this region are unavailable; an operator "
        "must fix the region's secret (the service log says which and why)"
    )


class EntitlementsUnavailable(VendError):
    """The entitlement rules cannot be read or do not validate: everything is refused."""

    code = "entitlements_unavailable"
    public_message = (
        "the entitlement rules are unavailable: every token is refused until an operator "
        "fixes them (the service log says why)"
    )


# The AWS services the function depends on (vcc_tokens.aws.clients)
class DependencyError(VendError):
    """An AWS service refused a request in a way an operator must fix (access, a resource)."""

    code = "dependency_error"

    def __init__(
        self,
        message: str,
        retry_after: int | None = None,
        *,
        service: str,
        aws_code: str | None = None,
    ) -> None:
        super().__init__(message, retry_after)
        self.service = service  # DynamoDB, KMS, Secrets Manager, SSM
        self.aws_code = aws_code  # AWS's error code; None for a remembered (already public) one

    public_wording = "refused a request ({}); an operator must fix it (the service log has it)"

    @property
    def public_message(self) -> str:
        if self.aws_code is None:  # remembered: its message is already the public one
            return self.message
        return f"{self.service} {self.public_wording.format(self.aws_code)}"


class DependencyUnavailable(DependencyError):
    """An AWS service is throttling, failing or unreachable: worth retrying shortly."""

    code = "dependency_unavailable"
    public_wording = "is unavailable ({}); try again shortly"


# The token endpoint's answers
class UpstreamError(VendError):
    """Anything the VCC token endpoint did that kept us from getting a token."""

    code = "upstream_error"
    kind = "error"  # short label for logs and metrics


class UpstreamRejectedCredentials(UpstreamError):
    code = "upstream_rejected_credentials"
    kind = "invalid_client"


class UpstreamRefusedScope(UpstreamError):
    code = "scope_not_granted"
    kind = "invalid_scope"


class UpstreamRejectedRequest(UpstreamError):
    code = "upstream_rejected_request"
    kind = "rejected"


class UpstreamBadResponse(UpstreamError):
    code = "upstream_bad_response"
    kind = "bad_response"


class UpstreamUnavailable(UpstreamError):
    """Rate limited (429), failing (5xx) or unreachable; worth retrying later."""

    code = "upstream_unavailable"
    kind = "unavailable"

    def __init__(
        self, message: str, retry_after: int, upstream_retry_after: int | None = None
    ) -> None:
        super().__init__(message, retry_after)
        self.upstream_retry_after = upstream_retry_after  # what VCC said, if it said anything


class UpstreamRateLimited(UpstreamUnavailable):
    code = "upstream_rate_limited"
    kind = "rate_limited"


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    kind = "timeout"


def upstream_error_kinds() -> list[str]:
    """The kinds of VCC failure, each counted as UpstreamErrors_<kind>, in the order defined."""
    kinds: list[str] = []
    classes: list[type[UpstreamError]] = [UpstreamError]
    while classes:
        cls = classes.pop(0)
        if cls is not UpstreamError and cls.kind not in kinds:
            kinds.append(cls.kind)
        classes.extend(cls.__subclasses__())
    return kinds


def error_for_code(code: str, message: str, retry_after: int) -> VendError:
    """The error with this `code`, for a failure remembered by code (vcc_tokens.values.backoff)."""
    classes: list[type[VendError]] = [VendError]
    while classes:
        cls = classes.pop()
        if cls.code == code:
            if issubclass(cls, DependencyError):
                return cls(message, retry_after, service="the token cache")
            return cls(message, retry_after)
        classes.extend(cls.__subclasses__())
    return UpstreamError(message, retry_after)
