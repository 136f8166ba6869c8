"""What VCC documents about where and what a token is for (FACTS.md): its regions and scopes."""

from __future__ import annotations

from typing import Literal, get_args

Region = Literal["emea", "nam", "apac"]
REGIONS: tuple[Region, ...] = get_args(Region)

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
