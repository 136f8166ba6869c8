"""schemathesis generates requests from openapi.json and sends them, SigV4-signed, to the local
stack: no answer may be a 5xx, and every answer must match the document."""

from __future__ import annotations

from collections.abc import Iterator

import botocore.session
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from vcc_token_client import SigV4RequestsAuth

from generators.openapi import DOCUMENT
from tests.stack_support import CALLERS, Stack, running_stack

pytestmark = pytest.mark.integration

schema = schemathesis.openapi.from_path(DOCUMENT)
ENGINEER = CALLERS[2]  # entitled to every read scope and stats, in every region


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack()


@pytest.fixture(scope="module")
def signer() -> SigV4RequestsAuth:
    session = botocore.session.Session()
    session.set_credentials(ENGINEER["access_key_id"], ENGINEER["secret_access_key"])
    return SigV4RequestsAuth(session, region="eu-west-1")


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_the_api_keeps_its_contract(
    case: schemathesis.Case, stack: Stack, signer: SigV4RequestsAuth
) -> None:
    response = case.call(base_url=stack.url, auth=signer, timeout=10)
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
