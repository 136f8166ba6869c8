"""What can go wrong, with the service's error code and message."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from vcc_token_contract.api import MISSING_TOKEN


class Exit(IntEnum):
    """The CLI's exit codes, one meaning each; `vcc-token --help` lists them from here."""

    meaning: str

    def __new__(cls, code: int, meaning: str) -> Exit:
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    OK = 0, "ok (admin explain: allowed)"
    FAILED = 1, "anything else (admin smoke: an alarm in ALARM, a refresher not run lately)"
    BAD_INPUT = 2, "bad input (usage, unknown region or scope, invalid rules, no such route)"
    FORBIDDEN = 3, "forbidden (IAM, the resource policy or the entitlement rules refused)"
    RETRY_LATER = 4, "retry later (VCC failing or rate limiting)"
    UNREACHABLE = 5, "unreachable (network, AWS credentials or an AWS call)"
    OPERATOR_NEEDED = 6, "operator needed (the service's VCC credentials, rules or AWS access)"
    NOT_ROTATED = 7, "not rotated (admin rotate: the pending secret was not promoted)"
    NEVER_SERVED = 8, "never served (admin who-had, served-to: every line read, none matched)"
    INCOMPLETE = 9, "incomplete (admin who-had, served-to: stopped at a page or time limit)"


# The service's error codes that no retry fixes: its secret, its rules or its AWS access
OPERATOR_CODES = frozenset(
    {
        "upstream_rejected_credentials",
        "credentials_unavailable",
        "entitlements_unavailable",
        "dependency_error",
        "service_misconfigured",
    }
)


class TokenServiceError(Exception):
    """The service refused or failed; `code` and `message` are what it answered."""

    def __init__(self, status: int | None, code: str, message: str) -> None:
        super().__init__(_said(status, code, message))
        self.status = status
        self.code = code
        self.message = message

    def restated(self, message: str) -> TokenServiceError:
        """The same error (class, status, code, Retry-After) saying `message` instead."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__, message=message)
        Exception.__init__(clone, _said(self.status, self.code, message))
        return clone


def _said(status: int | None, code: str, message: str) -> str:
    return f"{code}: {message}" if status is None else f"{status} {code}: {message}"


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


class AwsCredentialsError(ServiceUnreachable):
    """The caller's AWS configuration or credentials could not be used to sign (a missing
    profile, an expired SSO login, a failing credential_process...): one line saying which."""


# botocore's configuration and credential errors, as a caller would act on them. Their own
# messages are not shown: a credential_process failure carries the process's output.
AWS_SETUP = {
    "ProfileNotFound": "AWS_PROFILE (or --profile) names a profile your AWS config does not have",
    "NoCredentialsError": "no AWS credentials found (environment, profile, SSO or role)",
    "PartialCredentialsError": "the AWS credentials are incomplete (an access key without its "
    "secret?)",
    "CredentialRetrievalError": "the profile's credential_process failed (an expired SSO login "
    "looks like this: aws sso login)",
    "SSOTokenLoadError": "the SSO login has expired or never happened: aws sso login",
    "UnauthorizedSSOTokenError": "the SSO login has expired: aws sso login",
    "TokenRetrievalError": "the SSO token could not be refreshed: aws sso login",
    "NoRegionError": "no AWS region configured: set AWS_REGION or the profile's region",
}


def aws_setup_error(error: Exception) -> AwsCredentialsError:
    kind = type(error).__name__
    why = AWS_SETUP.get(kind, "the AWS configuration or credentials could not be used")
    return AwsCredentialsError(None, "aws_credentials", f"{why} ({kind})")


class OperatorNeeded(TokenServiceError):
    """The service's own VCC credentials, rules or AWS access are broken: no retry helps."""


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
    if status == 403 and message == MISSING_TOKEN:
        return BadRequest(
            status, "no_such_route", "no such route: check the URL's stage and path (API "
            f"Gateway answers {MISSING_TOKEN!r} for a path it does not have)",
        )  # fmt: skip
    if status == 403:
        return Forbidden(status, code, message)
    if code in OPERATOR_CODES:
        return OperatorNeeded(status, code, message)
    if status in (502, 503, 504):
        seconds = int(retry_after) if retry_after and retry_after.isdigit() else None
        return UpstreamUnavailable(status, code, message, seconds)
    if 400 <= status < 500:
        return BadRequest(status, code, message)
    return TokenServiceError(status, code, message)


def exit_code(error: TokenServiceError) -> Exit:
    """The CLI's exit code for a failure (Exit)."""
    codes = {
        BadRequest: Exit.BAD_INPUT,
        Forbidden: Exit.FORBIDDEN,
        UpstreamUnavailable: Exit.RETRY_LATER,
        ServiceUnreachable: Exit.UNREACHABLE,
        OperatorNeeded: Exit.OPERATOR_NEEDED,
    }
    return next((code for kind, code in codes.items() if isinstance(error, kind)), Exit.FAILED)
