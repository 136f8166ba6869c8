"""`vcc-token`: tokens for scheduled jobs and shells, a token-injecting proxy, and admin answers.

    vcc-token token emea agents-availability:read            # the token
    vcc-token token emea agents-availability:read --header   # Authorization: Bearer ...
    vcc-token token emea agents-availability:read --json     # the service's whole answer
    vcc-token proxy --config proxy.json [--port 8700]        # see vcc_token_client/proxy.py
    vcc-token admin check-rules FILE | explain ARN REGION SCOPE | status --table NAME
    vcc-token admin smoke --api URL [--region R --scope S] [--stack NAME]   # after a deploy
    vcc-token admin rotate --region R [--credential N] --function F < secret   # rotation
    vcc-token admin purge --table T --region R [--credential N] [--scope S] [--yes]
    vcc-token admin dead-letters --queue-url URL list | redrive --function F | purge [--yes]
    vcc-token admin who-had [SHA256] --stack S | served-to CALLER_ARN --stack S   # a leak

The service's URL comes from --url or VCC_TOKEN_SERVICE_URL (the proxy's from its config file);
AWS credentials from the usual chain (environment, profile, role). `vcc-token VERB --help` shows
each verb's options and examples.

Exit codes:
  0 ok (admin explain: allowed)
  1 anything else (admin smoke: an alarm in ALARM, a refresher that has not run lately)
  2 bad input (usage, unknown region or scope, invalid rules, a URL or route that does not exist)
  3 forbidden (admin explain: refused)
  4 retry later (VCC failing or rate limiting)
  5 unreachable (network, AWS credentials or an AWS call)
  6 operator needed (the service's VCC credentials, rules or AWS access are broken)
  7 not rotated (admin rotate: the pending secret was not promoted; nothing changed)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError

from vcc_token_client import __version__, admin
from vcc_token_client.admin_support import AdminError
from vcc_token_client.client import TokenClient
from vcc_token_client.errors import Exit, TokenServiceError, exit_code
from vcc_token_contract.events import DEFAULT_RENEW_RATE_MINUTES
from vcc_token_contract.names import DEFAULT_CREDENTIAL, DEFAULT_SECRET_PREFIX
from vcc_token_contract.vcc import REGIONS, SCOPES

REGION_HELP = " or ".join((", ".join(REGIONS[:-1]), REGIONS[-1]))  # emea, nam or apac


def scope(value: str) -> str:
    """A scope VCC documents, or argparse's exit 2 naming the value and what is allowed."""
    if value not in SCOPES:
        raise argparse.ArgumentTypeError(
            f"unknown scope {value[:64]!r}; allowed: {', '.join(SCOPES)}"
        )
    return value


def region(value: str) -> str:
    """A VCC region, or argparse's exit 2 naming the value and what is allowed."""
    if value not in REGIONS:
        raise argparse.ArgumentTypeError(
            f"unknown region {value[:40]!r}; allowed: {', '.join(REGIONS)}"
        )
    return value


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="vcc-token",
        description="Get a VCC bearer token from the token-vending service.",
        epilog="exit codes:\n" + __doc__.split("Exit codes:\n")[1].rstrip() if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument("--version", action="version", version=version_line())
    global_options(cli, os.environ.get("VCC_TOKEN_SERVICE_URL"), 60, None)
    commands = cli.add_subparsers(dest="command", required=True, metavar="{token,proxy,admin}")
    _token_verb(commands)
    _proxy_verb(commands)
    admin_verb = verb(commands, "admin", "answers for the platform team", [])
    checks = admin_verb.add_subparsers(dest="check", required=True)
    _rules_verbs(checks)
    _operations_verbs(checks)
    return cli


def global_options(cli: Any, url: object, min_ttl: object, signing_region: object) -> None:
    """--url, --min-ttl and --signing-region: on the main parser with their defaults, and on
    every verb with none (argparse.SUPPRESS), so they may come before or after the verb."""
    cli.add_argument(
        "--url",
        default=url,
        help="the service's base URL, or several, comma-separated, to fail over between "
        "deployments in that order (default: $VCC_TOKEN_SERVICE_URL)",
    )
    cli.add_argument(
        "--min-ttl", type=int, default=min_ttl, help="seconds the token must still be valid"
    )
    cli.add_argument(
        "--signing-region",
        default=signing_region,
        help="AWS region to sign for (default: the execute-api hostname's, else the configured "
        "region; a custom domain needs one of them)",
    )


def verb(commands: Any, name: str, summary: str, examples: list[str], **extra: str) -> Any:
    """A subcommand whose --help ends with examples, taking the global options too."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    parser = commands.add_parser(
        name,
        help=summary,
        description=extra.get("description", summary),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    global_options(parser, argparse.SUPPRESS, argparse.SUPPRESS, argparse.SUPPRESS)
    return parser


def _token_verb(commands: Any) -> None:
    token = verb(
        commands,
        "token",
        "print a token",
        [
            "vcc-token --url https://abc.execute-api.eu-west-1.amazonaws.com/v1 "
            "token emea agents-availability:read",
            'curl -H "$(vcc-token token emea users:read --header)" '
            "https://emea.api.cc.vonage.com/users",
        ],
        description="Print a VCC bearer token for a region and scope, signed with your AWS "
        "credentials (environment, profile or role).",
    )
    token.add_argument("region", help=REGION_HELP)
    token.add_argument("scope", help="for example agents-availability:read")
    shape = token.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    shape.add_argument("--header", action="store_true", help="print an Authorization header line")


def _proxy_verb(commands: Any) -> None:
    proxy = verb(
        commands,
        "proxy",
        "inject tokens into calls to VCC's APIs",
        [
            "vcc-token proxy --config proxy.json --port 8700",
            "curl http://127.0.0.1:8700/emea/agents-availability?skillNames=French",
        ],
        description="A proxy on 127.0.0.1 that forwards /REGION/PATH to VCC's API with the "
        "route's token added. It signs its token requests with your AWS credentials "
        "(environment, profile or role: they need execute-api:Invoke and an entitlement rule). "
        'The config file is JSON: {"service_url": "<the stack\'s ApiUrl>", "routes": '
        '[{"path": "/agents-availability", "scope": "agents-availability:read"}], '
        '"api_base_url": "https://{region}.api.cc.vonage.com" (optional)}; it is checked '
        "when the proxy starts.",
    )
    proxy.add_argument("--config", type=Path, required=True, help="routes and URLs (JSON)")
    proxy.add_argument("--port", type=int, default=8700, help="port on 127.0.0.1 (default 8700)")


def _rules_verbs(checks: Any) -> None:
    check_rules = verb(
        checks,
        "check-rules",
        "validate an entitlements document",
        [
            "vcc-token admin check-rules entitlements.json",
            "vcc-token admin check-rules --tier Advanced entitlements.json",
        ],
    )
    check_rules.add_argument("file", type=Path)
    check_rules.add_argument(
        "--tier",
        choices=sorted(admin.PARAMETER_TIER_BYTES),
        default="Standard",
        help="the SSM parameter's tier: Standard holds 4 KB, Advanced 8 KB (default Standard)",
    )
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


def _operations_verbs(checks: Any) -> None:
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
    )
    status.add_argument("--table", required=True, help="the service's DynamoDB table")
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
    )
    purge.add_argument("--table", required=True, help="the service's DynamoDB table")
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
    )
    smoke.add_argument("--api", required=True, help="the stack's ApiUrl output")
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


def _ledger_window(ledger_verb: Any) -> None:
    """Where the issuance ledger is (the stack's vending log group) and how far back to read."""
    ledger_verb.add_argument("--stack", required=True, help="the stack's name")
    ledger_verb.add_argument(
        "--since", default="30d", help="how far back: 30m, 24h, 30d (default 30d)"
    )


def version_line() -> str:
    """The client's version, and the service code's beside it when installed."""
    try:
        from vcc_tokens import __version__ as service
    except ImportError:
        return f"vcc-token {__version__}"
    return f"vcc-token {__version__} (service code {service})"


# botocore's configuration and credential errors, as an operator would act on them. Their own
# messages are not shown: a credential_process failure carries the process's output.
AWS_SETUP = {
    "ProfileNotFound": "AWS_PROFILE (or --profile) names a profile your AWS config does not have",
    "NoCredentialsError": "no AWS credentials found (environment, profile, SSO or role)",
    "PartialCredentialsError": "the AWS credentials are incomplete (an access key without its "
    "secret?)",
    "CredentialRetrievalError": "the profile's credential_process failed (an expired SSO login "
    "looks like this: aws sso login)",
    "SSOTokenLoadError": "the SSO login has expired or never happened: aws sso login",
    "UnauthorizedSSOTokenError": "the SSO login has expired: aws sso login",
    "TokenRetrievalError": "the SSO token could not be refreshed: aws sso login",
    "NoRegionError": "no AWS region configured: set AWS_REGION or the profile's region",
}


def main(argv: list[str] | None = None) -> Exit:
    try:
        return run(argv)
    except BrokenPipeError:  # `... | head` closed the pipe: nothing more to say
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK
    except BotoCoreError as error:  # one line, never a traceback
        kind = type(error).__name__
        why = AWS_SETUP.get(kind, "the AWS configuration or credentials could not be used")
        print(f"vcc-token: {why} ({kind})", file=sys.stderr)
        return Exit.UNREACHABLE


def run(argv: list[str] | None = None) -> Exit:
    args = parser().parse_args(argv)
    if args.command == "admin":
        return run_admin(args)
    if args.command == "proxy":
        return run_proxy(args)
    if not args.url:
        print("vcc-token: no service URL: pass --url or set VCC_TOKEN_SERVICE_URL", file=sys.stderr)
        return Exit.BAD_INPUT
    try:
        urls = [url.strip() for url in args.url.split(",") if url.strip()]  # failover order
        client = TokenClient(urls, min_ttl=args.min_ttl, signing_region=args.signing_region)
        token = client.token(args.region, args.scope)
    except TokenServiceError as error:
        print(f"vcc-token: {error}", file=sys.stderr)
        return exit_code(error)
    if args.json:
        print(
            json.dumps(
                {
                    "access_token": token.access_token,
                    "token_type": "Bearer",
                    "expires_in": int(token.seconds_left()),
                    "region": token.region,
                    "scope": token.scope,
                }
            )
        )
    elif args.header:
        print(f"Authorization: {token.authorization}")
    else:
        print(token.access_token)
    return Exit.OK


def run_admin(args: argparse.Namespace) -> Exit:
    try:
        if args.check == "check-rules":
            print(admin.check_rules(args.file, args.tier))
            return Exit.OK
        if args.check == "explain":
            return run_explain(args)
        if args.check == "smoke":
            return run_smoke(args)
        if args.check == "rotate":
            return run_rotate(args)
        if args.check == "purge":
            return run_purge(args)
        if args.check == "dead-letters":
            return run_dead_letters(args)
        if args.check in ("who-had", "served-to"):
            return run_ledger(args)
        print(admin.format_status(admin.status(args.table), args.json))
        return Exit.OK
    except BrokenPipeError:
        raise
    except (AdminError, OSError) as error:
        print(f"vcc-token admin: {error}", file=sys.stderr)
        return error.code if isinstance(error, AdminError) else Exit.BAD_INPUT


def run_explain(args: argparse.Namespace) -> Exit:
    admin.check_request(args.caller_arn, args.region, args.scope)
    routes = args.routes.read_text(encoding="utf-8") if args.routes else None
    served, credential = admin.credential_behind(
        args.region, args.scope, routes or os.environ.get("VCC_CREDENTIALS")
    )
    text = (
        admin.rules_from_ssm(args.parameter)
        if args.parameter
        else args.rules.read_text(encoding="utf-8")
    )
    source = args.parameter or str(args.rules)
    allowed, why = admin.explain(
        admin.load_rules(text, source), args.caller_arn, args.region, args.scope
    )
    print(f"{why}; {credential}" if served else f"{why}\n{credential}")
    return Exit.OK if allowed and served else Exit.FORBIDDEN


def run_rotate(args: argparse.Namespace) -> Exit:
    """The secret comes from stdin only: never argv (visible to every process) or the
    environment (inherited by children)."""
    if sys.stdin.isatty():
        print("paste the re-issued client secret, then Ctrl-D:", file=sys.stderr)
    from vcc_token_client import rotate

    rotation = rotate.Rotation(args.secret_prefix, args.region, args.credential, args.scope)
    stdin = getattr(sys.stdin, "buffer", None)  # bytes, decoded explicitly (rotate.decoded)
    text = rotate.decoded(stdin.read()) if stdin is not None else sys.stdin.read()
    rotated, why = rotate.rotate(rotation, text, args.function)
    print(f"{args.region}/{args.credential}: {'rotated' if rotated else 'NOT rotated'}: {why}")
    return Exit.OK if rotated else Exit.NOT_ROTATED


def run_purge(args: argparse.Namespace) -> Exit:
    keys = admin.purge_candidates(args.table, args.region, args.credential, args.scope)
    if not keys:
        print("no cached tokens match; nothing removed")
        return Exit.OK
    listing = "\n".join(f"  {key}" for key in keys)
    if not args.yes:
        if not sys.stdin.isatty():
            raise AdminError(f"would remove:\n{listing}\nconfirm with --yes", Exit.BAD_INPUT)
        answer = input(f"remove these cached tokens?\n{listing}\n[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return Exit.OK
    admin.purge(args.table, keys)
    print(f"removed:\n{listing}")
    print(
        "what a purge cannot stop: instances may still serve these tokens from memory for up "
        "to MEMORY_CACHE_SECONDS (30 s by default; after that none does, and the next request "
        "fetches anew); callers that already hold one keep it until it expires (VCC documents "
        "no revocation). To stop new grants with a leaked credential, re-issue its secret at "
        "VCC and run vcc-token admin rotate"
    )
    return Exit.OK


def run_ledger(args: argparse.Namespace) -> Exit:
    from vcc_token_client import ledger

    since = ledger.since_ms(args.since)
    window = f"since {args.since} ago (at most the log group's retention)"
    if args.check == "served-to":
        tokens = ledger.served_to(args.stack, args.caller_arn, since)
        for digest, seen in sorted(tokens.items(), key=lambda item: item[1].first):
            print(seen.line(f"{digest}  {', '.join(sorted(seen.keys))}"))
        print(f"{len(tokens)} token{'' if len(tokens) == 1 else 's'} served to it {window}")
        return Exit.OK
    stdin = "" if args.fingerprint or sys.stdin.isatty() else sys.stdin.read()
    digest = ledger.fingerprint(args.fingerprint, stdin)
    callers = ledger.who_had(args.stack, digest, since)
    if not callers:
        print(f"token {digest[:12]}...: this service never served it {window}")
        return Exit.OK
    keys = sorted({key for seen in callers.values() for key in seen.keys})
    print(f"token {digest[:12]}... ({', '.join(keys)}) was served to {len(callers)} caller(s):")
    for caller, seen in sorted(callers.items(), key=lambda item: item[1].first):
        print(seen.line(caller))
    return Exit.OK


def run_dead_letters(args: argparse.Namespace) -> Exit:
    from vcc_token_client import dead_letters

    if args.action == "list":
        letters = dead_letters.listed(args.queue_url)
        for letter in letters:
            print(letter.line())
        print(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'}")
        return Exit.OK
    if args.action == "redrive":
        if not args.function:
            raise AdminError(
                "redrive needs --function <RefreshFunctionName output>", Exit.BAD_INPUT
            )
        redriven, failed = dead_letters.redrive(args.queue_url, args.function)
        print(f"redriven and removed: {redriven}")
        for line in failed:
            print(f"left in the queue: {line}")
        return Exit.FAILED if failed else Exit.OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise AdminError("purge removes every dead letter: confirm with --yes", Exit.BAD_INPUT)
        if input("remove every dead letter? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return Exit.OK
    dead_letters.purge(args.queue_url)
    print("purged: the queue is empty (its alarm clears within 5 minutes)")
    return Exit.OK


def run_smoke(args: argparse.Namespace) -> Exit:
    from vcc_token_client import smoke

    checks = smoke.smoke(
        args.api,
        args.region,
        args.scope,
        args.stack,
        None,
        args.signing_region,
        args.refresh_rate_minutes,
    )
    for check in checks:
        print(check.line(), flush=True)
    code = smoke.overall_exit_code(checks)
    print("smoke check passed" if code == 0 else "smoke check FAILED", flush=True)
    return code


def run_proxy(args: argparse.Namespace) -> Exit:
    from vcc_token_client import proxy

    try:
        config = proxy.ProxyConfig.load(args.config)
    except proxy.ConfigError as error:
        print(f"vcc-token proxy: {error}", file=sys.stderr)
        return Exit.BAD_INPUT
    tokens = TokenClient(
        config.service_url,
        min_ttl=args.min_ttl,
        signing_region=args.signing_region,
        api_base_url=config.api_base_url,
    )
    try:
        server = proxy.serve(config, tokens, args.port)
    except proxy.WaitressMissing as missing:
        print(f"vcc-token proxy: {missing}", file=sys.stderr)
        return Exit.BAD_INPUT
    except OSError as error:
        print(
            f"vcc-token proxy: cannot listen on 127.0.0.1:{args.port} ({error.strerror})",
            file=sys.stderr,
        )
        return Exit.UNREACHABLE
    print(f"vcc-token proxy on http://127.0.0.1:{server.effective_port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(Exit.OK))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        server.run()
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
