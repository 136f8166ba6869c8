"""local/sam-env.json (for `sam local invoke` against `make run`) stays true: SAM overrides only
variables the template declares, and the values must be what the local stack creates."""

import json

from local import inputs
from local.stack import LOCAL_KEY_ALIAS, ROOT, load_template
from tests.support import load_event
from vcc_token_contract.entitlements import parse_entitlements

OVERRIDES = json.loads((ROOT / "local" / "sam-env.json").read_text())["Parameters"]


def test_every_override_is_a_variable_the_template_declares() -> None:
    declared = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert set(OVERRIDES) <= set(declared)


def test_the_overrides_name_what_make_run_creates() -> None:
    assert OVERRIDES["TOKEN_TABLE_NAME"] == inputs.TABLE
    assert OVERRIDES["VCC_SECRET_PREFIX"] == inputs.SECRET_PREFIX
    assert OVERRIDES["ENTITLEMENTS_PARAMETER"] == inputs.ENTITLEMENTS_PARAMETER
    assert OVERRIDES["TOKEN_KMS_KEY_ID"] == LOCAL_KEY_ALIAS


def test_the_demo_rules_let_the_events_caller_have_the_events_token() -> None:
    rules = parse_entitlements(inputs.DEFAULT_ENTITLEMENTS.read_text())
    event = load_event("get_token_emea_agents_availability.json")
    caller = event["requestContext"]["identity"]["userArn"]
    assert rules.allows(caller, "emea", "agents-availability:read")
