"""pytest fixtures for callers' suites, registered by the client's wheel (entry point pytest11):

def test_my_job_gets_a_token(vcc_token_service, vcc_token_credentials):
    client = TokenClient(vcc_token_service.url)
    assert client.token("emea", "users:read").access_token
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vcc_token_client.testing.double import ServiceDouble

TEST_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example key: signs, opens nothing
TEST_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def vcc_token_service() -> Iterator[ServiceDouble]:
    """A started test double of the token service that takes any signed request."""
    with ServiceDouble() as service:
        yield service


@pytest.fixture
def vcc_token_services() -> Iterator[Callable[..., ServiceDouble]]:
    """Starts doubles with ServiceDouble's options (two for a failover); stops them after."""
    started: list[ServiceDouble] = []

    def start(**options: Any) -> ServiceDouble:
        started.append(ServiceDouble(**options).start())
        return started[-1]

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def vcc_token_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test AWS credentials in the environment (and no profile), so the client signs."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
