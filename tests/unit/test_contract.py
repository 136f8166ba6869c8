"""The contract both sides import (vcc_token_contract): each fact spelled out there alone, and
the service reading what the client builds with it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from local.stack import load_template
from vcc_token_contract.events import renewal_event, rotation_event
from vcc_token_contract.ledger import SERVED, Field
from vcc_token_contract.names import (
    DEFAULT_CREDENTIAL,
    DEFAULT_SECRET_PREFIX,
    CacheKey,
    health_credential,
    health_key,
    log_group,
    new_lease_owner,
    secret_name,
)
from vcc_token_contract.vcc import REGIONS, SCOPES
from vcc_tokens.aws.handover import parse_renewal
from vcc_tokens.rotation import parse_rotation
from vcc_tokens.values.config import Settings
from vcc_tokens.values.errors import InvalidRequest
from vcc_tokens.values.tokens import Key

ROOT = Path(__file__).resolve().parents[2]
CODE = [ROOT / "layers" / "common" / "vcc_tokens", ROOT / "client", ROOT / "functions"]
CODE += [ROOT / room for room in ("local", "iam", "checks", "bench", "generators")]
CONTRACT = ROOT / "layers" / "common" / "contract" / "vcc_token_contract"


def spelled_out(values: frozenset[str]) -> list[str]:
    """Collections written in code outside the contract holding two or more of `values`."""
    found = []
    for path in sorted(p for folder in CODE for p in folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                items = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(items & values) >= 2:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_regions_and_scopes_are_spelled_out_once_in_code() -> None:
    assert not spelled_out(frozenset(REGIONS)), spelled_out(frozenset(REGIONS))
    assert not spelled_out(frozenset(SCOPES)), spelled_out(frozenset(SCOPES))


def test_the_templates_region_choices_and_secret_prefix_are_the_contracts() -> None:
    parameters = load_template()["Parameters"]
    assert tuple(parameters["DefaultVccRegion"]["AllowedValues"]) == REGIONS
    assert parameters["SecretPrefix"]["Default"] == DEFAULT_SECRET_PREFIX


def test_the_client_reaches_the_service_by_plain_imports_only() -> None:
    for path in sorted((ROOT / "client").rglob("*.py")):
        assert "importlib" not in path.read_text(encoding="utf-8"), path


@pytest.mark.parametrize(
    "key",
    [CacheKey("emea", "stats"), CacheKey("nam", "users:write", "admin")],
)
def test_a_cache_key_reads_back_as_written_and_as_the_service_names_it(key: CacheKey) -> None:
    assert CacheKey.parse(key.text()) == key
    assert Key(*key).cache_key == key.text()
    assert health_credential(key.text()) is None  # a token's item is no credential's health


def test_a_default_credentials_items_and_secret_keep_their_names_from_before_credentials() -> None:
    assert CacheKey("emea", "stats", DEFAULT_CREDENTIAL).text() == "emea#stats"
    assert secret_name("vcc/p/", "emea", DEFAULT_CREDENTIAL) == "vcc/p/emea"
    assert secret_name("vcc/p/", "emea", "admin") == "vcc/p/emea/admin"
    assert health_credential(health_key("apac", "admin")) == "apac/admin"


def test_the_service_takes_the_events_the_contract_builds() -> None:
    settings = Settings.from_env(
        {
            "TOKEN_TABLE_NAME": "tokens",
            "VCC_SECRET_PREFIX": "vcc/",
            "ENTITLEMENTS_PARAMETER": "/vcc/entitlements",
            "TOKEN_KMS_KEY_ID": "alias/k",
            "VCC_CREDENTIALS": '{"emea": {"default": ["stats"], "admin": ["users:write"]}}',
        }
    )
    owner = new_lease_owner()
    key, lease_owner = parse_renewal(renewal_event("emea", "stats", owner)["renew"], settings)
    assert (key, lease_owner) == (Key("emea", "stats"), owner)
    event = rotation_event("emea", "admin", "users:write", "a1b2-c3")["rotate"]
    request = parse_rotation(event, settings)
    assert (request.region, request.credential, request.scope, request.version) == (
        "emea",
        "admin",
        "users:write",
        "a1b2-c3",
    )
    with pytest.raises(InvalidRequest, match="lease_owner"):
        parse_renewal(renewal_event("emea", "stats", "not-an-owner")["renew"], settings)


def test_each_functions_log_group_is_named_as_the_contract_says() -> None:
    """The ledger, smoke and who-had find a function's log lines by `names.log_group`: the
    template's log groups must be named the same way."""
    resources = load_template()["Resources"]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert len(functions) == 2
    for function in functions:
        properties = function["Properties"]
        room = Path(properties["CodeUri"]).name  # functions/vend/ -> vend
        group = resources[properties["LoggingConfig"]["LogGroup"]["Ref"]]["Properties"]
        named = group["LogGroupName"]["Sub"].replace("${AWS::StackName}", "my-stack")
        assert named == log_group("my-stack", room), room


def test_the_ledger_lines_names_are_imported_on_both_sides_never_spelled() -> None:
    """The vending function writes the served-token line and `admin who-had` reads it: its
    message and its fields come from vcc_token_contract.ledger on both sides."""
    names = {field.value for field in Field}
    spelled = []
    service = [ROOT / "functions", ROOT / "layers" / "common" / "vcc_tokens", ROOT / "client"]
    for path in sorted(p for folder in service for p in folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == SERVED:
                spelled.append(f"{path.name}:{node.lineno} {SERVED!r}")
            if path.name == "ledger.py" and isinstance(node, ast.Constant) and node.value in names:
                spelled.append(f"{path.name}:{node.lineno} {node.value!r}")
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("append_keys"):
                written = {k.arg for k in node.keywords if k.arg in names}
                spelled += [f"{path.name}:{node.lineno} {name}=" for name in sorted(written)]
    assert not spelled, spelled


def test_no_log_level_the_template_offers_drops_the_ledger_line() -> None:
    """The served-token line is INFO: a LogLevel above it would leave `who-had` blind."""
    import logging

    offered = load_template()["Parameters"]["LogLevel"]["AllowedValues"]
    assert offered
    assert all(logging.getLevelName(level) <= logging.INFO for level in offered)


def test_what_waits_for_the_refresher_waits_as_long_as_the_template_lets_it_run() -> None:
    from vcc_token_contract.events import REFRESHER_TIMEOUT_SECONDS

    refresher = load_template()["Resources"]["RefreshFunction"]["Properties"]
    assert refresher["Timeout"] == REFRESHER_TIMEOUT_SECONDS


def test_the_smoke_checks_scheduled_run_is_the_schedules_own_event() -> None:
    from vcc_token_contract.events import SCHEDULED_RUN

    rule = load_template()["Resources"]["RefreshFunctionRenewal"]["Properties"]
    ((target,),) = [rule["Targets"]]
    assert json.loads(target["Input"]) == SCHEDULED_RUN


ITEM_READERS_AND_WRITERS = [
    ROOT / "layers" / "common" / "vcc_tokens" / "aws" / "table.py",
    ROOT / "layers" / "common" / "vcc_tokens" / "aws" / "health.py",
    ROOT / "client" / "vcc_token_client" / "admin" / "status.py",
]


@pytest.mark.parametrize("path", ITEM_READERS_AND_WRITERS, ids=lambda path: path.name)
def test_the_items_attributes_are_imported_never_spelled(path: Path) -> None:
    """The service writes the token table's items and `admin status` reads them: every
    attribute name comes from vcc_token_contract.item, in expressions too (no string of the
    module, docstrings aside, holds one as a word)."""
    from vcc_token_contract.item import Attribute

    word = re.compile(r"(?<![:\w])(" + "|".join(a.value for a in Attribute) + r")(?!\w)")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    spelled = [
        f"{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and word.search(node.value)
    ]
    assert spelled == []


def test_the_tables_key_and_ttl_are_the_items_attributes() -> None:
    from vcc_token_contract.item import Attribute

    table = load_template()["Resources"]["TokenTable"]["Properties"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == [Attribute.CACHE_KEY]
    assert table["TimeToLiveSpecification"]["AttributeName"] == Attribute.TTL
