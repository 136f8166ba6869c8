"""What the VCC token-vending service and its client agree on, written once.

    vcc_token_contract.vcc      VCC's regions and scopes (FACTS.md)
    vcc_token_contract.names    the names of cache items, health items, secrets, leases and logs
    vcc_token_contract.events   the refresher's events: renew one key, rotate one credential

Plain values and functions without I/O or dependencies: the Lambda layer carries this package
beside vcc_tokens, and vcc-token-client depends on it (Python 3.11+).
"""

__version__ = "1.0.0"  # the release's one version (CHANGELOG.md; tests/unit/test_release.py)
