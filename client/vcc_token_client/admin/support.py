"""What every admin verb shares: its error (AdminError, carrying the exit code), an AWS client
per service, an AWS failure said in one line, the guard around importing the service's own
code (the [admin] extra), and where it runs (one stack, or every described deployment)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config

from vcc_token_client.errors import Exit, TokenServiceError
from vcc_token_contract.events import REFRESHER_TIMEOUT_SECONDS


class AdminError(Exception):
    """What went wrong, for the operator; `code` is the exit code."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def service_code() -> Iterator[None]:
    """Around an import of the service's own code (vcc_tokens), which the [admin] extra brings:
    without it, one line saying how to install it (exit 1)."""
    try:
        yield
    except ModuleNotFoundError as missing:
        if (missing.name or "").partition(".")[0] != "vcc_tokens":
            raise
        raise AdminError(
            "vcc-token admin uses the service's own code, which needs Python 3.13: install it "
            "beside the client (pip install 'vcc-token-client[admin]' --find-links <the "
            "release's files>, or pip install ./layers/common from a checkout)",
            Exit.FAILED,
        ) from None


def aws_client(
    service: str, session: botocore.session.Session | None, config: Config | None = None
) -> Any:
    """A client, or an AdminError (exit 5) saying what is missing (no region, typically)."""
    try:
        return (session or botocore.session.get_session()).create_client(service, config=config)
    except Exception as exc:  # NoRegionError and the like: say which, never a traceback
        raise AdminError(
            f"cannot make an AWS {service} client ({type(exc).__name__}): set AWS_REGION "
            "(or AWS_DEFAULT_REGION) to the stack's region",
            Exit.UNREACHABLE,
        ) from None


def aws_error(exc: Exception, what: str, verb: str = "read") -> AdminError:
    code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code", type(exc).__name__)
    return AdminError(f"cannot {verb} {what} ({code})", Exit.UNREACHABLE)


# One refresher run, waited for as long as it may run and invoked once (botocore's retries
# would run it again after a read timeout)
REFRESHER_INVOKE = Config(
    read_timeout=REFRESHER_TIMEOUT_SECONDS + 10, retries={"total_max_attempts": 1}
)


def refresher_client(session: botocore.session.Session | None = None) -> Any:
    """The Lambda client run_refresher invokes with: made once per command, not per run."""
    return aws_client("lambda", session, REFRESHER_INVOKE)


def run_refresher(lambda_: Any, function: str, event: dict[str, Any]) -> str | None:
    """Runs `event` on the refresher, synchronously: None if it ran, else why not (its error
    type: the details are in its log). A failed invocation is an AdminError (exit 5)."""
    try:
        answer = lambda_.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event)
        )
    except Exception as exc:  # botocore's errors: say which, never the service's text
        raise aws_error(exc, f"the function {function!r}", "invoke") from None
    if answer.get("FunctionError"):
        try:  # Lambda's error document; anything else is just "an error"
            payload = json.loads(answer["Payload"].read(64 * 1024) or b"{}")
        except ValueError:
            payload = None
        kind = payload.get("errorType", "an error") if isinstance(payload, dict) else "an error"
        return f"failed ({str(kind)[:80]}); its log has the details"
    return None


@dataclass(frozen=True)
class Place:
    """Where an admin verb runs: what the command line names (one stack), or one deployment of
    the description (vcc_token_client.deployments), with its region's AWS session."""

    label: str | None  # None: the one place the command line names
    stack: str | None
    table: str | None
    url: str | None
    session: botocore.session.Session | None = None

    def needs(self, what: str, option: str) -> str:
        value = getattr(self, what)
        if not value:
            where = f"deployment {self.label}" if self.label else "the command line"
            raise AdminError(f"{where} gives no {what}: pass {option}", Exit.BAD_INPUT)
        return str(value)


def places(args: argparse.Namespace) -> list[Place]:
    """The stack, table or URL the options name; else every deployment of --deployments."""
    given = {name: getattr(args, name, None) for name in ("stack", "table", "api")}
    if any(given.values()) or not getattr(args, "deployments", None):
        return [Place(None, given["stack"], given["table"], given["api"])]
    from vcc_token_client.deployments import load_deployments

    try:
        deployments = load_deployments(args.deployments)
    except TokenServiceError as problem:
        raise AdminError(problem.message, Exit.BAD_INPUT) from None
    return [Place(d.label, d.stack, d.table, d.url, d.session()) for d in deployments]


def across(found: list[Place], run: Callable[[Place], Exit]) -> list[Exit]:
    """`run` at each place: one section per deployment, and a deployment that could not be
    read says so and why, without stopping the others. One place: its error is the verb's."""
    if len(found) == 1 and found[0].label is None:
        return [run(found[0])]
    codes = []
    for place in found:
        print(f"== {place.label} ==", flush=True)
        try:
            codes.append(run(place))
        except AdminError as error:
            print(f"could not be read: {error}", flush=True)
            codes.append(error.code)
    return codes
