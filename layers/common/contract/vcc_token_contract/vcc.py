"""What VCC documents about where and what a token is for (FACTS.md): its hosts, regions and
scopes."""

from __future__ import annotations

from typing import Literal, get_args

# VCC's current hosts; `{region}` stands for the region (the legacy *.newvoicemedia.com hosts
# work too). The token endpoint's is the service's and the template's default (a test ties them).
TOKEN_URL_TEMPLATE = "https://{region}.cc.vonage.com/Auth/connect/token"
API_BASE_URL_TEMPLATE = "https://{region}.api.cc.vonage.com"

Region = Literal["emea", "nam", "apac"]
REGIONS: tuple[Region, ...] = get_args(Region)
DEFAULT_REGION: Region = "emea"  # of an OAuth 2.0 token request that names none (a setting)

# Every scope VCC documents: the service's default allow-list (ALLOWED_SCOPES replaces it).
SCOPES: tuple[str, ...] = (
    "agents-availability:read",
    "users:read",
    "users:write",
    "interaction-content:read",
    "interaction-content:delete",
    "interactions:write",
    "stats",
    "globalpci",
    "admin:read",
    "admin:write",
)
