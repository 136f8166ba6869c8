"""Client for the VCC token-vending service.

from vcc_token_client import TokenClient
tokens = TokenClient("https://abc123.execute-api.eu-west-1.amazonaws.com/v1")
requests.get("https://emea.api.cc.vonage.com/agents-availability",
             auth=tokens.bearer("emea", "agents-availability:read"))
"""

__version__ = "1.0.0"  # the release's one version (CHANGELOG.md; tests/unit/test_release.py)

from vcc_token_client.client import ForeignOrigin, Token, TokenClient, VccBearerAuth
from vcc_token_client.errors import (
    BadRequest,
    Forbidden,
    ServiceUnreachable,
    TokenServiceError,
    UpstreamUnavailable,
)
from vcc_token_client.sigv4 import SigV4RequestsAuth

__all__ = [
    "BadRequest",
    "Forbidden",
    "ForeignOrigin",
    "ServiceUnreachable",
    "SigV4RequestsAuth",
    "Token",
    "TokenClient",
    "TokenServiceError",
    "UpstreamUnavailable",
    "VccBearerAuth",
]
