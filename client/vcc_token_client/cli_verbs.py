"""What each `vcc-token` verb does, given its parsed arguments (vcc_token_client.cli_parser
names the verbs and hands each its function)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import sys
from collections.abc import Callable

from vcc_token_client import admin, ledger
from vcc_token_client.admin_support import AdminError
from vcc_token_client.client import TokenClient
from vcc_token_client.errors import Exit, TokenServiceError, exit_code
from vcc_token_client.failover import FailoverMemory

Verb = Callable[[argparse.Namespace], Exit]  # what runs one verb, given its parsed arguments


def run_token(args: argparse.Namespace) -> Exit:
    if not args.url:
        print("vcc-token: no service URL: pass --url or set VCC_TOKEN_SERVICE_URL", file=sys.stderr)
        return Exit.BAD_INPUT
    try:
        client = TokenClient(
            args.url,  # comma-separated: the failover order
            min_ttl=args.min_ttl,
            signing_region=args.signing_region,
            timeout=args.timeout,
            failover_memory=FailoverMemory.in_user_cache(),  # one process per job: remembered
        )
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


def admin_verb(run: Verb) -> Verb:
    """An admin verb whose AdminError (or unreadable file) ends in one line and its exit code."""

    @functools.wraps(run)
    def one_line(args: argparse.Namespace) -> Exit:
        try:
            return run(args)
        except BrokenPipeError:
            raise
        except (AdminError, OSError) as error:
            print(f"vcc-token admin: {error}", file=sys.stderr)
            return error.code if isinstance(error, AdminError) else Exit.BAD_INPUT

    return one_line


@admin_verb
def run_check_rules(args: argparse.Namespace) -> Exit:
    print(admin.check_rules(args.file, args.tier))
    return Exit.OK


@admin_verb
def run_status(args: argparse.Namespace) -> Exit:
    print(admin.format_status(admin.status(args.table), args.json))
    return Exit.OK


@admin_verb
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


@admin_verb
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


@admin_verb
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


@admin_verb
def run_ledger(args: argparse.Namespace) -> Exit:
    since = ledger.since_ms(args.since)
    window = f"since {args.since} ago (at most the log group's retention)"
    search = ledger.Search()
    if args.check == "served-to":
        tokens = ledger.served_to(args.stack, args.caller_arn, since, search)
        for digest, seen in sorted(tokens.items(), key=lambda item: item[1].first):
            print(seen.line(f"{digest}  {', '.join(sorted(seen.keys))}"))
        print(f"{len(tokens)} token{'' if len(tokens) == 1 else 's'} served to it {window}")
        return _ledger_exit(search, found=bool(tokens))
    stdin = "" if args.fingerprint or sys.stdin.isatty() else sys.stdin.read()
    digest = ledger.fingerprint(args.fingerprint, stdin)
    callers = ledger.who_had(args.stack, digest, since, search)
    if not callers:
        never = "this service never served it" if search.complete else "no caller found so far"
        print(f"token {digest[:12]}...: {never} {window}")
    else:
        keys = sorted({key for seen in callers.values() for key in seen.keys})
        print(f"token {digest[:12]}... ({', '.join(keys)}) was served to {len(callers)} caller(s):")
        for caller, seen in sorted(callers.items(), key=lambda item: item[1].first):
            print(seen.line(caller))
    return _ledger_exit(search, found=bool(callers))


def _ledger_exit(search: ledger.Search, *, found: bool) -> Exit:
    """Found (0), never served (8, having read every line) or incomplete (9, saying how far)."""
    if not search.complete:
        print(search.how_far())
        return Exit.INCOMPLETE
    return Exit.OK if found else Exit.NEVER_SERVED


@admin_verb
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


@admin_verb
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
        timeout=args.timeout,
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
