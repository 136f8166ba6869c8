"""The issuance ledger: the vending function's one INFO line per request (`request completed`),
which `vcc-token admin who-had` and `served-to` read back from CloudWatch Logs. The service
writes these fields and the client reads them by these names only (a test refuses them spelled
out elsewhere)."""

from __future__ import annotations

from enum import StrEnum

SERVED = "request completed"  # the line's message


class Field(StrEnum):
    CALLER = "caller_arn"  # the verified IAM caller
    TOKEN = "token_sha256"  # which token was served, by its SHA-256 (never the token)
    REGION = "region"
    SCOPE = "scope"
    CREDENTIAL = "credential"  # the VCC credential the scope is routed to
    SOURCE = "source"  # where the token came from (memory, dynamodb, upstream, lease_wait):
    # the dashboard counts requests by it (generators/dashboard.py's Logs Insights query)
    CACHE = "cache"  # how the cache stood (hit, miss, expired, below_min_ttl, ...)
