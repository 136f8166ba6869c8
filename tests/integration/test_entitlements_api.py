"""Entitlements through the handler: refused callers get 403 before any cache or VCC access,
every decision is on the request's log line, and a broken rule document refuses everything."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.vcc_emulator import VccEmulator
from tests.conftest import ALLOW_TEST_CALLER, Observed, Service
from tests.support import api_event, invoke

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::210987654321:role/orders-service"  # the events' assumed role's role


def decisions(observed: Observed) -> list[dict[str, Any]]:
    """Each request's one line says who asked for what, and whether a rule allowed it."""
    records = [json.loads(line) for line in observed.log_lines]
    return [r for r in records if r.get("message") == "request completed"]


def test_a_caller_without_a_rule_is_refused_before_cache_or_upstream(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed
) -> None:
    service.set_entitlements(
        {"version": 1, "rules": [{"principals": [ROLE], "regions": ["emea"], "scopes": ["stats"]}]}
    )
    refused = invoke(vend_handler, api_event("nam", "globalpci"))
    assert (refused.status, refused.body["error"]) == (403, "forbidden")
    assert refused.body["message"] == "caller may not obtain scope 'globalpci' in region 'nam'"
    assert emulator.token_requests == 0
    assert service.cached_item("nam", "globalpci") is None  # not even a lease was written
    allowed = invoke(vend_handler, api_event("emea", "stats"))
    assert allowed.status == 200
    logged = [
        (d["caller_arn"], d["region"], d["scope"], d["entitled"]) for d in decisions(observed)
    ]
    caller = "arn:aws:sts::210987654321:assumed-role/orders-service/orders-service"
    assert logged == [(caller, "nam", "globalpci", False), (caller, "emea", "stats", True)]


def test_the_refresh_route_is_authorized_too(
    service: Service, emulator: VccEmulator, vend_handler: Any
) -> None:
    service.set_entitlements({"version": 1, "rules": []})
    request = api_event("emea", "stats")
    request["httpMethod"], request["path"] = "POST", "/tokens/emea/stats/refresh"
    response = invoke(vend_handler, request)
    assert (response.status, response.body["error"]) == (403, "forbidden")
    assert emulator.token_requests == 0


@pytest.mark.parametrize("document", ['{"version": 1, "rules": [{"principals": "*"}]}', "not json"])
def test_a_malformed_document_refuses_everything_with_a_clear_log_line(
    service: Service, emulator: VccEmulator, vend_handler: Any, observed: Observed, document: str
) -> None:
    service.set_entitlements(document)
    response = invoke(vend_handler, api_event("emea", "stats"))
    assert (response.status, response.body["error"]) == (500, "entitlements_unavailable")
    assert service.entitlements_parameter not in response.body["message"]  # in the log only
    assert emulator.token_requests == 0
    errors = [
        json.loads(line) for line in observed.log_lines if '"entitlements unavailable' in line
    ]
    assert errors
    assert errors[0]["level"] == "ERROR"
    assert errors[0]["parameter"] == service.entitlements_parameter


def test_a_missing_parameter_refuses_every_caller_with_403_logged_and_counted(
    service: Service,
    emulator: VccEmulator,
    vend_handler: Any,
    observed: Observed,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Deny by default, as docs/deploying.md says: no rule, no token (a 403, not a 500 that
    # would page the 5xx alarms), the problem logged for the operator and counted
    service.ssm.delete_parameter(Name=service.entitlements_parameter)
    response = invoke(vend_handler, api_event("emea", "stats"))
    assert (response.status, response.body["error"]) == (403, "forbidden")
    assert emulator.token_requests == 0
    lines = [json.loads(line) for line in observed.log_lines if line.startswith("{")]
    [missing] = [line for line in lines if "entitlements parameter missing" in line["message"]]
    assert (missing["level"], missing["parameter"]) == ("ERROR", service.entitlements_parameter)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert any(line.get("EntitlementsStale") == [1.0] for line in printed)
    service.set_entitlements({"version": 1, "rules": []})  # for the fixture's clean-up


def test_changed_rules_take_effect_and_broken_ones_never_fall_back_to_the_old(
    service: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vcc_tokens import wiring

    monkeypatch.setenv("ENTITLEMENTS_MAX_AGE", "0")  # read the parameter on every request
    wiring.reset()
    assert invoke(vend_handler, api_event("emea", "stats")).status == 200
    service.set_entitlements({"version": 1, "rules": []})
    assert invoke(vend_handler, api_event("emea", "stats")).status == 403
    service.set_entitlements(ALLOW_TEST_CALLER)
    assert invoke(vend_handler, api_event("emea", "stats")).status == 200
    # A broken document refuses everything rather than keep the last good rules
    service.set_entitlements("{broken")
    assert invoke(vend_handler, api_event("emea", "stats")).status == 500
