"""Signing requests to the service with AWS Signature Version 4, as API Gateway's AWS_IAM
authorization expects, with the caller's own credentials from botocore's default chain
(environment, shared config and profiles, container or instance role)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError
from requests import PreparedRequest
from requests.auth import AuthBase

from vcc_token_client.errors import BadRequest, ServiceUnreachable, aws_setup_error

# Every hostname API Gateway documents for a REST API: {api-id}.execute-api.{region}.amazonaws.com
# (public, and a private API's private DNS name), {api-id}-{vpce-id}.execute-api.{region}.
# amazonaws.com (a private API through a VPC endpoint's Route 53 alias), and the endpoint's own
# vpce-....execute-api.{region}.vpce.amazonaws.com; China's end in .amazonaws.com.cn.
EXECUTE_API_HOST = re.compile(
    r"^[a-z0-9-]+\.execute-api\.(?P<region>[a-z]{2}(-[a-z]+)+-\d+)\.(vpce\.)?amazonaws\.com(\.cn)?$"
)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def signing_region(url: str, session: botocore.session.Session, given: str | None = None) -> str:
    """The region an execute-api hostname names, whatever else is configured (each deployment
    of a failover list is signed for its own); for any other hostname (a custom domain) the
    `given` signing region, else the configured one. A hostname that names none, with neither,
    is refused: signing for a guessed region only earns a signature-mismatch 403."""
    host = (urlsplit(url).hostname or "").lower()
    found = EXECUTE_API_HOST.match(host)
    if found:
        return found["region"]
    configured = given or session.get_config_variable("region")
    if configured:
        return str(configured)
    if host in LOOPBACK:  # make run's stack verifies a signature for any region
        return "us-east-1"
    raise BadRequest(
        None,
        "signing_region_unknown",
        f"{host} names no AWS region (a custom domain?): pass --signing-region "
        "(or set AWS_REGION) to the region the API is deployed in",
    )


class SigV4RequestsAuth(AuthBase):
    """A requests auth that signs each request for the service `execute-api`, in the region its
    URL's hostname names. `region` is for hostnames that name none (a custom domain): one for
    every URL, or one per service URL (vcc_token_client.deployments)."""

    def __init__(
        self,
        session: botocore.session.Session | None = None,
        region: str | Mapping[str, str] | None = None,
    ) -> None:
        self._session = session or botocore.session.get_session()
        self._region = region

    def given_region(self, url: str) -> str | None:
        if not isinstance(self._region, Mapping):
            return self._region
        bases = [base for base in self._region if url.startswith(base.rstrip("/") + "/")]
        return self._region[max(bases, key=len)] if bases else None

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        try:
            return self._signed(request)
        except BotoCoreError as error:  # a missing profile, an expired SSO login...: one line
            raise aws_setup_error(error) from None

    def _signed(self, request: PreparedRequest) -> PreparedRequest:
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
        region = signing_region(url, self._session, self.given_region(url))
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(signable)
        request.headers.update(dict(signable.headers))
        return request
