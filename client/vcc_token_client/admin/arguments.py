"""The admin verbs' arguments: each verb's parser, its --help examples and the function that runs
it (vcc_token_client.admin.commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vcc_token_client.admin import commands, rules
from vcc_token_client.cli_options import REGION_HELP, region, scope, verb
from vcc_token_contract.events import DEFAULT_RENEW_RATE_MINUTES
from vcc_token_contract.names import DEFAULT_CREDENTIAL, DEFAULT_SECRET_PREFIX


def add_verbs(checks: Any) -> None:
    """Every admin verb, under `vcc-token admin`."""
    _check_rules_verb(checks)
    _explain_verb(checks)
    add_verbs_after_explain(checks)


def _check_rules_verb(checks: Any) -> None:
    check_rules = verb(
        checks,
        "check-rules",
        "validate an entitlements document",
        [
            "vcc-token admin check-rules entitlements.json",
            "vcc-token admin check-rules --tier Advanced entitlements.json",
        ],
        run=commands.run_check_rules,
    )
    check_rules.add_argument("file", type=Path)
    check_rules.add_argument(
        "--tier",
        choices=sorted(rules.PARAMETER_TIER_BYTES),
        default="Standard",
        help="the SSM parameter's tier: Standard holds 4 KB, Advanced 8 KB (default Standard)",
    )


def _explain_verb(checks: Any) -> None:
    explain = verb(
        checks,
        "explain",
        "which rule lets a caller have a scope, and which credential serves it",
        [
            "vcc-token admin explain arn:aws:iam::111122223333:role/orders-service emea "
            "users:read --rules entitlements.json",
            "vcc-token admin explain arn:aws:iam::111122223333:role/orders-service emea "
            "users:read --parameter /vcc-token-vending/entitlements --routes routes.json",
        ],
        run=commands.run_explain,
    )
    explain.add_argument("caller_arn")
    explain.add_argument("region")
    explain.add_argument("scope")
    source = explain.add_mutually_exclusive_group(required=True)
    source.add_argument("--rules", type=Path, help="an entitlements document")
    source.add_argument("--parameter", help="the SSM parameter the service reads")
    explain.add_argument(
        "--routes",
        type=Path,
        help="the stack's CredentialRoutes JSON, to name the credential behind the key "
        "(default: $VCC_CREDENTIALS; none: each region's default credential)",
    )


def add_verbs_after_explain(checks: Any) -> None:
    _status_verb(checks)
    _rotate_verb(checks)
    _purge_verb(checks)
    _ledger_verbs(checks)
    _dead_letters_verb(checks)
    _smoke_verb(checks)


def _status_verb(checks: Any) -> None:
    status = verb(
        checks,
        "status",
        "every cached key (without its token) and each credential's health",
        ["vcc-token admin status --table <TokenTableName output>", "... --json | jq ."],
        run=commands.run_status,
    )
    status.add_argument(
        "--table", help="the service's DynamoDB table (else each of --deployments')"
    )
    status.add_argument("--json", action="store_true")


def _rotate_verb(checks: Any) -> None:
    rotate = verb(
        checks,
        "rotate",
        "store a re-issued VCC secret (from stdin) as pending; the refresher proves it "
        "with VCC, then makes it current",
        [
            "vcc-token admin rotate --region emea --credential admin "
            "--function <RefreshFunctionName output>   # then paste the secret, Ctrl-D",
        ],
        run=commands.run_rotate,
    )
    rotate.add_argument("--region", required=True, type=region, help=REGION_HELP)
    rotate.add_argument(
        "--credential",
        default=DEFAULT_CREDENTIAL,
        help=f"its name (default: {DEFAULT_CREDENTIAL})",
    )
    rotate.add_argument("--function", required=True, help="the stack's RefreshFunctionName output")
    rotate.add_argument(
        "--secret-prefix",
        default=DEFAULT_SECRET_PREFIX,
        help=f"the stack's SecretPrefix (default {DEFAULT_SECRET_PREFIX})",
    )
    rotate.add_argument("--scope", help="the scope to prove it with (default: its first)")


def _purge_verb(checks: Any) -> None:
    purge = verb(
        checks,
        "purge",
        "remove cached tokens, for an incident",
        ["vcc-token admin purge --table <TokenTableName output> --region emea --credential admin"],
        run=commands.run_purge,
    )
    purge.add_argument("--table", help="the service's DynamoDB table (else each of --deployments')")
    purge.add_argument("--region", required=True, type=region, help=REGION_HELP)
    purge.add_argument("--credential", help="only this credential's tokens")
    purge.add_argument("--scope", type=scope, help="only this scope's token")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _ledger_verbs(checks: Any) -> None:
    who = verb(
        checks,
        "who-had",
        "who received a token (a leak): from the vending function's log",
        [
            "vcc-token admin who-had 3f7c...e1 --stack vcc-token-vending --since 7d",
            "pbpaste | vcc-token admin who-had --stack vcc-token-vending  # hashed here",
        ],
        run=commands.run_ledger,
    )
    who.add_argument(
        "fingerprint", nargs="?", help="the token's SHA-256 (else: the token on stdin)"
    )
    _ledger_window(who)
    served = verb(
        checks,
        "served-to",
        "which tokens a caller received: from the vending function's log",
        ["vcc-token admin served-to arn:aws:sts::111122223333:assumed-role/orders/job --stack S"],
        run=commands.run_ledger,
    )
    served.add_argument("caller_arn", help="the caller's ARN, as the log names it")
    _ledger_window(served)


def _dead_letters_verb(checks: Any) -> None:
    dead = verb(
        checks,
        "dead-letters",
        "what the refresher could not do: list, redrive or purge it",
        [
            "vcc-token admin dead-letters --queue-url <RefreshDeadLetterQueueUrl output> list",
            "vcc-token admin dead-letters --queue-url <URL> redrive --function "
            "<RefreshFunctionName output>",
            "vcc-token admin dead-letters --queue-url <URL> purge --yes",
        ],
        run=commands.run_dead_letters,
    )
    dead.add_argument("action", choices=["list", "redrive", "purge"])
    dead.add_argument("--queue-url", required=True, help="the stack's RefreshDeadLetterQueueUrl")
    dead.add_argument("--function", help="redrive: the stack's RefreshFunctionName output")
    dead.add_argument("--yes", action="store_true", help="purge: do not ask for confirmation")


def _smoke_verb(checks: Any) -> None:
    smoke = verb(
        checks,
        "smoke",
        "after a deploy: a signed GET, a refresh, OAuth 2.0, alarms, refresher",
        [
            "vcc-token admin smoke --api <ApiUrl output> --region emea "
            "--scope agents-availability:read --stack vcc-token-vending"
        ],
        run=commands.run_smoke,
    )
    smoke.add_argument("--api", help="the stack's ApiUrl output (else each of --deployments')")
    smoke.add_argument("--region", default="emea", help="VCC region to ask for (default emea)")
    smoke.add_argument(
        "--scope",
        default="agents-availability:read",
        help="a scope the signing principal is entitled to (default agents-availability:read)",
    )
    smoke.add_argument("--stack", help="the stack's name: also check its alarms and refresher")
    smoke.add_argument(
        "--refresh-rate-minutes",
        type=int,
        default=DEFAULT_RENEW_RATE_MINUTES,
        help="the stack's RefreshRateMinutes: its refresher must have run within twice that "
        "(default 5, the template's)",
    )
    smoke.add_argument(
        "--run-refresher",
        metavar="FUNCTION",
        help="with --stack: run the stack's refresher (its RefreshFunctionName output) once, as "
        "its schedule does, before reading its last run: right after a deploy",
    )


def _ledger_window(ledger_verb: Any) -> None:
    """Where the issuance ledger is (the stack's vending log group) and how far back to read."""
    ledger_verb.add_argument("--stack", help="the stack's name (else each of --deployments')")
    ledger_verb.add_argument(
        "--since", default="30d", help="how far back: 30m, 24h, 30d (default 30d)"
    )
