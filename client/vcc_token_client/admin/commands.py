"""What runs each admin verb: its AWS reads and writes through the verb's module, printed, one line
and its exit code when it fails, and across every described deployment where it applies."""

from __future__ import annotations

import argparse
import functools
import os
import sys

from vcc_token_client.admin import ledger, rules, status
from vcc_token_client.admin.support import AdminError, Place, across, places
from vcc_token_client.cli_options import Verb
from vcc_token_client.errors import Exit


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
    print(rules.check_rules(args.file, args.tier))
    return Exit.OK


@admin_verb
def run_status(args: argparse.Namespace) -> Exit:
    def one(place: Place) -> Exit:
        rows = status.status(place.needs("table", "--table"), place.session)
        print(status.format_status(rows, args.json))
        return Exit.OK

    return worst(across(places(args), one))


def worst(codes: list[Exit]) -> Exit:
    """Every place fine: 0; else the first place's failure."""
    return next((code for code in codes if code != Exit.OK), Exit.OK)


@admin_verb
def run_explain(args: argparse.Namespace) -> Exit:
    rules.check_request(args.caller_arn, args.region, args.scope)
    routes = args.routes.read_text(encoding="utf-8") if args.routes else None
    served, credential = rules.credential_behind(
        args.region, args.scope, routes or os.environ.get("VCC_CREDENTIALS")
    )
    text = (
        rules.rules_from_ssm(args.parameter)
        if args.parameter
        else args.rules.read_text(encoding="utf-8")
    )
    source = args.parameter or str(args.rules)
    allowed, why = rules.explain(
        rules.load_rules(text, source), args.caller_arn, args.region, args.scope
    )
    print(f"{why}; {credential}" if served else f"{why}\n{credential}")
    return Exit.OK if allowed and served else Exit.FORBIDDEN


@admin_verb
def run_rotate(args: argparse.Namespace) -> Exit:
    """The secret comes from stdin only: never argv (visible to every process) or the
    environment (inherited by children)."""
    if sys.stdin.isatty():
        print("paste the re-issued client secret, then Ctrl-D:", file=sys.stderr)
    from vcc_token_client.admin import rotate

    rotation = rotate.Rotation(args.secret_prefix, args.region, args.credential, args.scope)
    stdin = getattr(sys.stdin, "buffer", None)  # bytes, decoded explicitly (rotate.decoded)
    text = rotate.decoded(stdin.read()) if stdin is not None else sys.stdin.read()
    rotated, why = rotate.rotate(rotation, text, args.function)
    print(f"{args.region}/{args.credential}: {'rotated' if rotated else 'NOT rotated'}: {why}")
    return Exit.OK if rotated else Exit.NOT_ROTATED


@admin_verb
def run_purge(args: argparse.Namespace) -> Exit:
    def one(place: Place) -> Exit:
        table = place.needs("table", "--table")
        keys = status.purge_candidates(
            table, args.region, args.credential, args.scope, place.session
        )
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
        status.purge(table, keys, place.session)
        print(f"removed:\n{listing}")
        return Exit.OK

    code = worst(across(places(args), one))
    print(
        "what a purge cannot stop: instances may still serve these tokens from memory for up "
        "to MEMORY_CACHE_SECONDS (30 s by default; after that none does, and the next request "
        "fetches anew); callers that already hold one keep it until it expires (VCC documents "
        "no revocation). To stop new grants with a leaked credential, re-issue its secret at "
        "VCC and run vcc-token admin rotate"
    )
    return code


@admin_verb
def run_ledger(args: argparse.Namespace) -> Exit:
    since = ledger.since_ms(args.since)
    window = f"since {args.since} ago (at most the log group's retention)"
    if args.check == "served-to":
        return _ledger_exit(across(places(args), lambda p: _served_to(args, p, since, window)))
    stdin = "" if args.fingerprint or sys.stdin.isatty() else sys.stdin.read()
    digest = ledger.fingerprint(args.fingerprint, stdin)
    return _ledger_exit(across(places(args), lambda p: _who_had(p, digest, since, window)))


def _served_to(args: argparse.Namespace, place: Place, since: int, window: str) -> Exit:
    search = ledger.Search()
    stack = place.needs("stack", "--stack")
    tokens = ledger.served_to(stack, args.caller_arn, since, search, place.session)
    for digest, seen in sorted(tokens.items(), key=lambda item: item[1].first):
        print(seen.line(f"{digest}  {', '.join(sorted(seen.keys))}"))
    print(f"{len(tokens)} token{'' if len(tokens) == 1 else 's'} served to it {window}")
    return _searched(search, found=bool(tokens))


def _who_had(place: Place, digest: str, since: int, window: str) -> Exit:
    search = ledger.Search()
    callers = ledger.who_had(place.needs("stack", "--stack"), digest, since, search, place.session)
    if not callers:
        never = "this service never served it" if search.complete else "no caller found so far"
        print(f"token {digest[:12]}...: {never} {window}")
    else:
        keys = sorted({key for seen in callers.values() for key in seen.keys})
        print(f"token {digest[:12]}... ({', '.join(keys)}) was served to {len(callers)} caller(s):")
        for caller, seen in sorted(callers.items(), key=lambda item: item[1].first):
            print(seen.line(caller))
    return _searched(search, found=bool(callers))


def _searched(search: ledger.Search, *, found: bool) -> Exit:
    """Found (0), never served (8, having read every line) or incomplete (9, saying how far)."""
    if not search.complete:
        print(search.how_far())
        return Exit.INCOMPLETE
    return Exit.OK if found else Exit.NEVER_SERVED


def _ledger_exit(codes: list[Exit]) -> Exit:
    """Across deployments: incomplete if one could not be searched to the end (or read at all),
    else found if one served it, else never served."""
    if any(code not in (Exit.OK, Exit.NEVER_SERVED) for code in codes):
        return Exit.INCOMPLETE if len(codes) > 1 else codes[0]
    return Exit.OK if Exit.OK in codes else Exit.NEVER_SERVED


@admin_verb
def run_dead_letters(args: argparse.Namespace) -> Exit:
    from vcc_token_client.admin import dead_letters

    if args.action == "list":
        letters, about = dead_letters.listed(args.queue_url)
        for letter in letters:
            print(letter.line())
        plural = "" if len(letters) == 1 else "s"
        print(f"{len(letters)} dead letter{plural} listed, of about {about} in the queue")
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
    from vcc_token_client.admin import smoke

    def one(place: Place) -> Exit:
        checks = smoke.smoke(
            place.needs("url", "--api"),
            args.region,
            args.scope,
            place.stack,
            place.session,
            args.signing_region,
            args.refresh_rate_minutes,
            run_refresher=args.run_refresher,
        )
        for check in checks:
            print(check.line(), flush=True)
        code = smoke.overall_exit_code(checks)
        print("smoke check passed" if code == 0 else "smoke check FAILED", flush=True)
        return code

    found = places(args)
    if args.run_refresher and (len(found) > 1 or not found[0].stack):
        # a function name is one deployment's: never invoke it in every region of the file
        raise AdminError(
            "--run-refresher names one stack's function: give --stack with it", Exit.BAD_INPUT
        )
    return worst(across(found, one))
