"""Entitlement rules: deny by default, ARN wildcards, assumed roles matching their role's rules."""

import json

import pytest

from vcc_token_contract.entitlements import (
    DECISIONS_KEPT,
    Entitlements,
    InvalidEntitlements,
    Rule,
    parse_entitlements,
    principal_matches,
)

ASSUMED = "arn:aws:sts::111122223333:assumed-role/orders-service/i-0abc"


@pytest.mark.parametrize(
    ("pattern", "caller", "matches"),
    [
        (
            "arn:aws:iam::111122223333:role/orders-service",
            "arn:aws:iam::111122223333:role/orders-service",
            True,
        ),
        (
            "arn:aws:iam::111122223333:role/orders-*",
            "arn:aws:iam::111122223333:role/orders-api",
            True,
        ),
        (
            "arn:aws:iam::111122223333:role/orders-*",
            "arn:aws:iam::999999999999:role/orders-api",
            False,
        ),
        (
            "arn:aws:iam::*:role/orders-service",
            "arn:aws:iam::999999999999:role/orders-service",
            True,
        ),
        # An assumed role matches rules written for its role, whatever the role's path
        ("arn:aws:iam::111122223333:role/orders-service", ASSUMED, True),
        ("arn:aws:iam::111122223333:role/team/orders-service", ASSUMED, True),
        ("arn:aws:iam::111122223333:role/orders-*", ASSUMED, True),
        ("arn:aws:iam::111122223333:role/*/orders-*", ASSUMED, True),
        ("arn:aws:iam::111122223333:role/billing", ASSUMED, False),
        ("arn:aws:iam::444455556666:role/orders-service", ASSUMED, False),
        # ...but not where the (invisible) path would decide
        ("arn:aws:iam::111122223333:role/payments/*", ASSUMED, False),
        # Rules may name assumed roles and sessions directly
        ("arn:aws:sts::111122223333:assumed-role/orders-service/*", ASSUMED, True),
        ("arn:aws:sts::111122223333:assumed-role/orders-service/i-9*", ASSUMED, False),
        ("*", ASSUMED, True),
        # A user is not a role
        (
            "arn:aws:iam::111122223333:role/orders-service",
            "arn:aws:iam::111122223333:user/orders-service",
            False,
        ),
    ],
)
def test_principal_matching(pattern: str, caller: str, matches: bool) -> None:
    assert principal_matches(pattern, caller) is matches


def test_nothing_is_allowed_without_a_rule() -> None:
    assert not Entitlements(()).allows(ASSUMED, "emea", "stats")
    rules = Entitlements((Rule(("*",), ("*",), ("*",)),))
    assert not rules.allows(None, "emea", "stats")  # no verified caller


def test_regions_and_scopes_must_both_match() -> None:
    rule = Rule(("arn:aws:iam::111122223333:role/orders-service",), ("emea", "n*"), ("*:read",))
    entitlements = Entitlements((rule,))
    assert entitlements.allows(ASSUMED, "nam", "users:read")
    assert not entitlements.allows(ASSUMED, "apac", "users:read")
    assert not entitlements.allows(ASSUMED, "emea", "users:write")
    assert not entitlements.allows(ASSUMED, "emea", "globalpci")


def test_each_decision_is_remembered_and_the_memory_is_bounded() -> None:
    rule = Rule(("arn:aws:iam::111122223333:role/orders-*",), ("emea",), ("*:read",))
    entitlements = Entitlements((rule,))
    asked = [(f"arn:aws:iam::111122223333:role/orders-{n}", "emea", "users:read") for n in range(9)]
    asked += [(f"arn:aws:iam::111122223333:role/other-{n}", "emea", "users:read") for n in range(9)]
    first = [entitlements.allows(*question) for question in asked]
    assert first == [True] * 9 + [False] * 9
    assert [entitlements.allows(*question) for question in asked] == first  # remembered alike
    many = (f"arn:aws:iam::111122223333:role/orders-{n}" for n in range(DECISIONS_KEPT + 10))
    for principal in many:
        assert entitlements.allows(principal, "emea", "users:read")
    assert 0 < len(vars(entitlements)["_decisions"]) <= DECISIONS_KEPT
    assert entitlements == Entitlements((rule,))  # what it remembers is not part of the rules


def test_a_valid_document_parses() -> None:
    document = {
        "version": 1,
        "rules": [
            {"principals": ["arn:aws:iam::1:role/x"], "regions": ["emea"], "scopes": ["stats"]}
        ],
    }
    assert parse_entitlements(json.dumps(document)) == Entitlements(
        (Rule(("arn:aws:iam::1:role/x",), ("emea",), ("stats",)),)
    )


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{", "not JSON"),
        ('{"rules": []}', '"version": 1'),
        ('{"version": 1, "rules": {}}', '"rules" (a list)'),
        ('{"version": 1, "rules": [], "extra": 1}', "exactly the keys"),
        (
            '{"version": 1, "rules": [{"principals": ["*"], "regions": ["*"]}]}',
            "rule 0: needs exactly",
        ),
        (
            '{"version": 1, "rules": [{"principals": ["*"], "regions": ["*"], "scope": ["*"]}]}',
            "rule 0",
        ),
        (
            '{"version": 1, "rules": [{"principals": [], "regions": ["*"], "scopes": ["*"]}]}',
            "non-empty list",
        ),
        (
            '{"version": 1, "rules": [{"principals": ["role/x"], "regions": ["*"], '
            '"scopes": ["*"]}]}',
            "must be ARNs",
        ),
        (
            '{"version": 1, "rules": [{"principals": ["*"], "regions": ["eu"], "scopes": ["*"]}]}',
            "emea, nam, apac",
        ),
    ],
)
def test_malformed_documents_say_where(document: str, problem: str) -> None:
    with pytest.raises(InvalidEntitlements, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_entitlements(document)
