"""Signing requests to the service with AWS Signature Version 4, as API Gateway's AWS_IAM
authorization expects, with the caller's own credentials from botocore's default chain
(environment, shared config and profiles, container or instance role)."""

from __future__ import annotations

import re

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from requests import PreparedRequest
from requests.auth import AuthBase

from vcc_token_client.errors import ServiceUnreachable

_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


def signing_region(url: str, session: botocore.session.Session) -> str:
    """The region in an execute-api URL, else the configured one (any works locally)."""
    found = _EXECUTE_API_HOST.search(url)
    if found:
        return found.group(1)
    return str(session.get_config_variable("region") or "us-east-1")


class SigV4RequestsAuth(AuthBase):
    """A requests auth that signs each request for the service `execute-api`."""

    def __init__(
        self, session: botocore.session.Session | None = None, region: str | None = None
    ) -> None:
        self._session = session or botocore.session.get_session()
        self._region = region

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        credentials = self._session.get_credentials()
        if credentials is None:
            raise ServiceUnreachable(
                None, "no_credentials", "no AWS credentials found (environment, profile or role)"
            )
        url = str(request.url)
        body = request.body or b""
        signable = AWSRequest(
            method=request.method,
            url=url,
            data=body.encode() if isinstance(body, str) else body,
            headers={k: v for k, v in request.headers.items() if k.lower() == "content-type"},
        )
        region = self._region or signing_region(url, self._session)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(signable)
        request.headers.update(dict(signable.headers))
        return request
