"""docs/deploying.md's starter entitlement rules, run as written (with `aws sts
get-caller-identity` answering for a deployer): the document they write is valid, and it
entitles the deployer's sessions, and nobody else, to what the smoke check asks for."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from vcc_token_contract.entitlements import parse_entitlements

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- example: the starter rules (tests/unit/test_deploy_docs.py) -->"


def starter_block() -> str:
    page = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
    (block,) = re.findall(re.escape(MARKER) + r"\n```sh\n(.*?)\n```", page, re.DOTALL)
    return block


@pytest.mark.parametrize(
    ("identity", "rule_names"),
    [
        (  # an assumed role (SSO, a CI role): the rule names the role, matching every session
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/jane@example.com",
            "arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0123",
        ),
        ("arn:aws:iam::111122223333:user/jane", "arn:aws:iam::111122223333:user/jane"),
    ],
)
def test_the_starter_rules_entitle_the_deployer(
    identity: str, rule_names: str, tmp_path: Path
) -> None:
    aws = f'aws() {{ echo "{identity}"; }}\n'  # what `aws sts get-caller-identity` prints
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", aws + starter_block()],  # noqa: S607
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    rules = parse_entitlements((tmp_path / "entitlements.json").read_text(encoding="utf-8"))
    assert [list(rule.principals) for rule in rules.rules] == [[rule_names]]
    assert rules.allows(identity, "emea", "agents-availability:read")
    assert not rules.allows(identity, "nam", "agents-availability:read")
    assert not rules.allows(
        "arn:aws:iam::111122223333:role/someone-else", "emea", "agents-availability:read"
    )
