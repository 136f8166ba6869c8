"""What the VCC token-vending service and its client agree on, written once.

    vcc_token_contract.vcc           VCC's regions and scopes (FACTS.md)
    vcc_token_contract.api           the token API as callers see it: routes, answers, error codes
    vcc_token_contract.entitlements  the entitlement rules' document and how a caller matches
    vcc_token_contract.names         the names of cache items, health items, secrets, leases, logs
    vcc_token_contract.events        the refresher's events: renew one key, rotate one credential
    vcc_token_contract.metrics       the CloudWatch metrics' names
    vcc_token_contract.ledger        the served-token line's message and fields
    vcc_token_contract.deadline_http an HTTP session whose answers end at a deadline

Plain values and functions without dependencies of their own (deadline_http uses requests, which
both sides have, only when asked for a session): the Lambda layer carries this package beside
vcc_tokens, and vcc-token-client depends on it (Python 3.11+).
"""

__version__ = "1.0.0"  # the release's one version (CHANGELOG.md; tests/unit/test_release.py)
