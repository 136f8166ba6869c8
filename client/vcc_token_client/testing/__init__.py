"""A test double of the VCC token-vending service, for the test suites of its callers: no AWS,
no Docker, nothing but the client package.

    from vcc_token_client.testing import ServiceDouble

    with ServiceDouble() as service:             # on 127.0.0.1, a free port
        client = TokenClient(service.url, api_base_url=service.vcc_api_base_url)

With pytest, the client's wheel registers a plugin (vcc_token_client.testing.plugin) whose
fixtures are `vcc_token_service` (a started double), `vcc_token_services` (a factory, for
failover between two) and `vcc_token_credentials` (test AWS credentials in the environment, so
the client can sign). The double answers the service's routes with the contract's answers
(vcc_token_contract.api), checks SigV4 (any key, or only given callers), applies entitlement
rules, takes scripted faults and records what it received; docs/clients.md has a whole example.
"""

from vcc_token_client.testing.double import ANY_CALLER, Received, ServiceDouble
from vcc_token_client.testing.sigv4 import Caller

__all__ = ["ANY_CALLER", "Caller", "Received", "ServiceDouble"]
