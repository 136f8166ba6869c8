"""What VCC documents, as the client needs it without the service's code installed: its regions
and scopes (the service's own are vcc_tokens.config.REGIONS and DOCUMENTED_SCOPES; a test keeps
them equal)."""

REGIONS = ("emea", "nam", "apac")
SCOPES = (
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
