"""`make run`'s stack as a subprocess on free ports: signed calls work, unsigned, tampered and
unknown-key calls get API Gateway's 403, and SIGTERM stops everything and frees the ports."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests
from vcc_token_client.admin.ledger import MAX_PAGES
from vcc_token_client.cli import main as vcc_token
from vcc_token_client.errors import Exit

from local.aws_faults import AwsFaultProxy, Fault
from local.lambda_runtime import LOCAL_REFRESHER
from local.stack import DEAD_LETTER_QUEUE, LOCAL_STACK_NAME, ROOT, create_table_from_template
from local.vcc_emulator import VccEmulator
from tests.conftest import CLIENTS
from tests.signing import signed_headers
from tests.stack_support import (
    CALLERS,
    Stack,
    free_port,
    own_stack,
    port_is_free,
    running_stack,
    start_stack,
)
from vcc_token_contract.events import RENEWAL_SUMMARY
from vcc_token_contract.names import log_group

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from running_stack()


def test_signed_requests_for_two_scopes_in_two_regions(stack: Stack) -> None:
    orders, reports = CALLERS[0], CALLERS[1]
    answers = {
        (region, scope): stack.get(f"/tokens/{region}/{scope}", orders)
        for region in ("emea", "nam")
        for scope in ("agents-availability:read", "users:read")
    }
    assert {answer.status_code for answer in answers.values()} == {200}
    tokens = {key: answer.json()["access_token"] for key, answer in answers.items()}
    assert len(set(tokens.values())) == 4  # one token per (region, scope)
    # Another caller (an STS assumed role), percent-encoded scope: the same cached token
    again = stack.get("/tokens/nam/users%3Aread", reports)
    assert again.status_code == 200
    assert again.json()["access_token"] == tokens[("nam", "users:read")]
    assert again.headers["Cache-Control"] == "no-store"


def test_signed_post_with_a_body_refreshes_a_rejected_token(stack: Stack) -> None:
    caller = CALLERS[1]
    rejected = stack.get("/tokens/apac/stats", caller).json()["access_token"]
    url = stack.url + "/tokens/apac/stats/refresh"
    body = json.dumps({"rejected_token_sha256": hashlib.sha256(rejected.encode()).hexdigest()})
    headers = signed_headers(
        "POST", url, caller["access_key_id"], caller["secret_access_key"], body=body.encode()
    )
    answer = requests.post(url, data=body, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["access_token"] != rejected
    # The body is signed too: changing it breaks the signature
    tampered = requests.post(url, data=body.replace('"r', ' "r'), headers=headers, timeout=10)
    assert tampered.status_code == 403


def test_a_caller_without_an_entitlement_is_forbidden(stack: Stack) -> None:
    # orders-service may have emea and nam tokens only (local/entitlements.json)
    answer = stack.get("/tokens/apac/agents-availability:read", CALLERS[0])
    assert (answer.status_code, answer.json()["error"]) == (403, "forbidden")
    assert "'apac'" in answer.json()["message"]


def test_a_caller_outside_the_resource_policy_gets_api_gateways_explicit_deny(
    stack: Stack,
) -> None:
    # Given a caller whose account is neither the stack's, listed, nor in the organization
    outsider = CALLERS[3]
    assert outsider["principal_arn"].split(":")[4] == "999988887777"
    # When it signs a valid request
    answer = stack.get("/tokens/emea/agents-availability:read", outsider)
    # Then the resource policy (decided by the IAM evaluator from template.yaml) refuses it
    assert answer.status_code == 403
    message = answer.json()["Message"]
    assert message.startswith(f"User: {outsider['principal_arn']} is not authorized")
    assert message.endswith("/v1/GET/tokens/emea/agents-availability:read with an explicit deny")


def smoke(
    stack: Stack,
    caller: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    stack_name: str = LOCAL_STACK_NAME,
    aws_endpoint: str | None = None,
    extra: tuple[str, ...] = (),
) -> int:
    """`vcc-token admin smoke` against the stack, signed as `caller` (its AWS: the stack's
    moto, or `aws_endpoint` in front of it)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", caller["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", caller["secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint or stack.aws_endpoint)  # alarms, logs
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    checks = ["--region", "nam", "--scope", "users:read", "--stack", stack_name, *extra]
    return vcc_token(["admin", "smoke", "--api", stack.url, *checks])


def test_the_smoke_check_passes_against_make_run(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an engineer entitled to every read scope, signing with its own keys
    engineer = CALLERS[2]
    # When it runs the post-deploy smoke check
    code = smoke(stack, engineer, monkeypatch)
    out = capsys.readouterr().out
    # Then every check passed: the API's three, every alarm of the stack, and the refresher's
    # last run (its log lines reach the stack's CloudWatch Logs, as Lambda's do)
    assert code == 0, out
    outcomes = [line.split()[0] for line in out.splitlines()[:-1]]
    assert outcomes == ["ok", "ok", "ok", "ok", "ok"], out
    for alarm in ("upstream-errors", "credential-rejected", "renewal-failures"):
        assert alarm in out
    assert "refresher: last run 0 min ago, 0 renewed, none failed" in out
    assert out.splitlines()[-1] == "smoke check passed"
    # and the token it handled is nowhere in what it printed
    current = stack.get("/tokens/nam/users:read", engineer).json()["access_token"]
    assert current not in out


def test_the_smoke_check_fails_when_it_cannot_see(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A stack name with no alarms and no refresher log group: both checks fail, saying why
    assert smoke(stack, CALLERS[2], monkeypatch, "no-such-stack") == 1
    out = capsys.readouterr().out
    assert "FAILED   alarms: no alarm is named no-such-stack-*" in out
    assert "FAILED   refresher: no log group /aws/lambda/no-such-stack/refresher" in out
    assert out.splitlines()[-1] == "smoke check FAILED"
    # No AWS region: the alarms cannot be read, which is a failure (exit 5), not a skip
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    code = vcc_token(
        ["admin", "smoke", "--api", stack.url, "--region", "nam", "--scope", "users:read",
         "--stack", LOCAL_STACK_NAME, "--signing-region", "eu-west-1"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 5, out
    assert "FAILED   alarms: cannot read them (NoRegionError)" in out


def test_the_smoke_check_runs_the_refresher_once_right_after_a_deploy(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = boto3.client(
        "logs", endpoint_url=stack.aws_endpoint, region_name="eu-west-1",
        aws_access_key_id="LOCALTEST", aws_secret_access_key="local-only",
    )  # fmt: skip
    group = log_group(LOCAL_STACK_NAME, "refresher")

    def runs() -> int:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, filterPattern=f'"{RENEWAL_SUMMARY}"'
        )
        return sum(len(page["events"]) for page in pages)

    before = runs()
    # When the smoke check is asked to run the refresher first (as docs/deploying.md says
    # right after a deploy, before its first scheduled run)
    code = smoke(stack, CALLERS[2], monkeypatch, extra=("--run-refresher", LOCAL_REFRESHER))
    out = capsys.readouterr().out
    # Then it ran once, said so, and the refresher check read that run
    assert code == 0, out
    assert f"ok       scheduled run: {LOCAL_REFRESHER} ran once, as its schedule does" in out
    assert "ok       refresher: last run 0 min ago" in out
    assert runs() == before + 1


def stack_with_refresher_lines(stack: Stack, name: str, lines: list[tuple[float, str]]) -> None:
    """A stack `name` whose alarms are fine and whose refresher logged `lines` (minutes ago,
    message) to its log group."""
    aws = {"endpoint_url": stack.aws_endpoint, "region_name": "eu-west-1"}
    keys = {"aws_access_key_id": "LOCALTEST", "aws_secret_access_key": "local-only"}
    boto3.client("cloudwatch", **aws, **keys).put_metric_alarm(
        AlarmName=f"{name}-upstream-errors", MetricName="UpstreamErrors",
        Namespace="VccTokenVending", Statistic="Sum", Period=300, EvaluationPeriods=1,
        Threshold=5, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )  # fmt: skip
    logs = boto3.client("logs", **aws, **keys)
    group = f"/aws/lambda/{name}/refresher"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    events = [
        {"timestamp": int((time.time() - minutes * 60) * 1000), "message": message}
        for minutes, message in sorted(lines, reverse=True)
    ]
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)


def summary(**fields: object) -> str:
    line = {"level": "INFO", "message": RENEWAL_SUMMARY, "renewed": 1, "failed": [], **fields}
    return json.dumps(line)


@pytest.mark.parametrize(
    ("name", "lines", "says"),
    [
        (  # stopped: its last summary is 30 minutes old (the schedule's rate: 5 minutes)
            "stale",
            [(30, summary())],
            "FAILED   refresher: no completed run logged in /aws/lambda/stale/refresher in the "
            "last 10 min, twice the schedule's 5 min",
        ),
        (  # its last run failed a key
            "failing",
            [(20, summary()), (1, summary(failed=["emea#stats: upstream_unavailable"]))],
            "FAILED   refresher: the last run (1 min ago) failed 1 key(s): emea#stats: "
            "upstream_unavailable",
        ),
        (  # its runs crash (dead-lettered): lines, but no summary since the last good one
            "crashing",
            [(30, summary()), (2, '{"level": "ERROR", "message": "boom"}')],
            "FAILED   refresher: no completed run logged",
        ),
    ],
)
def test_the_smoke_check_fails_for_a_refresher_that_is_not_renewing(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    lines: list[tuple[float, str]],
    says: str,
) -> None:
    stack_with_refresher_lines(stack, name, lines)
    code = smoke(stack, CALLERS[2], monkeypatch, name)
    out = capsys.readouterr().out
    assert code == 1, out
    assert says in out
    assert "ok       alarms" in out


def test_the_smoke_check_fails_clearly_outside_the_resource_policy(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = smoke(stack, CALLERS[3], monkeypatch)
    out = capsys.readouterr().out
    assert code == 3, out
    assert out.splitlines()[0].startswith("FAILED   GET /tokens/nam/users:read: 403")
    assert "with an explicit deny" in out.splitlines()[0]
    # the checks after it are listed as not run, and why: none vanishes from the output
    assert out.splitlines()[1:3] == [
        "not run  POST /tokens/nam/users:read/refresh: not run: GET /tokens/nam/users:read failed",
        "not run  POST /oauth2/token: not run: GET /tokens/nam/users:read failed",
    ]
    assert out.splitlines()[-1] == "smoke check FAILED"


def as_operator(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of an operator of `stack`: its AWS (moto takes any keys)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "LOCALOPERATOR0000001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-only")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.aws_endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def test_a_purge_reaches_every_instance_within_the_memory_window(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given make run's stack with a 1 s memory window, its vending instance warm with a token
    window = 1.0
    with own_stack({"MEMORY_CACHE_SECONDS": str(window)}) as quick:
        caller = CALLERS[0]
        first = quick.get("/tokens/nam/users:read", caller).json()["access_token"]
        # When an operator purges nam's cached tokens through the stack's AWS
        as_operator(quick, monkeypatch)
        purge = ["admin", "purge", "--table", "vcc-tokens-local", "--region", "nam", "--yes"]
        assert vcc_token(purge) == 0
        assert "nam#users:read" in capsys.readouterr().out
        # Then once the documented window has passed, the instance serves a new token
        time.sleep(window + 0.05)
        again = quick.get("/tokens/nam/users:read", caller)
        assert again.status_code == 200
        assert again.json()["access_token"] != first


def test_who_had_a_token_and_what_a_caller_received_from_make_runs_logs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with own_stack() as quick:
        # Given one token served to two callers: twice to the orders service, once to reports
        orders, reports = CALLERS[0], CALLERS[1]
        answers = [quick.get("/tokens/emea/users:read", who) for who in (orders, orders, reports)]
        tokens = {answer.json()["access_token"] for answer in answers}
        assert len(tokens) == 1
        (token,) = tokens
        digest = hashlib.sha256(token.encode()).hexdigest()
        as_operator(quick, monkeypatch)
        who = ["admin", "who-had", "--stack", LOCAL_STACK_NAME]
        # When an incident responder asks who had it, by its fingerprint and by the token
        assert vcc_token([*who[:2], digest, *who[2:]]) == 0
        by_digest = capsys.readouterr().out
        monkeypatch.setattr("sys.stdin", io.StringIO(token + "\n"))
        assert vcc_token(who) == 0
        by_token = capsys.readouterr().out
        # Then both name the two callers with their counts, and the key
        for said in (by_digest, by_token):
            assert f"token {digest[:12]}... (emea/users:read (default)) was served to 2" in said
            assert f"{orders['principal_arn']}  2 x" in said
            assert f"{reports['principal_arn']}  1 x" in said
        # A pasted Authorization line and an upper-case fingerprint name the same token
        monkeypatch.setattr("sys.stdin", io.StringIO(f"Authorization: Bearer {token}\n"))
        assert vcc_token(who) == 0
        assert vcc_token([*who[:2], digest.upper(), *who[2:]]) == 0
        assert capsys.readouterr().out.count("was served to 2 caller(s)") == 2
        # A token the service never issued says so, with its own exit code
        never = hashlib.sha256(b"not one of ours").hexdigest()
        assert vcc_token([*who[:2], never, *who[2:]]) == Exit.NEVER_SERVED
        assert "this service never served it since 30d ago" in capsys.readouterr().out
        # And served-to lists what a caller received
        assert (
            vcc_token(["admin", "served-to", orders["principal_arn"], "--stack", LOCAL_STACK_NAME])
            == 0
        )
        received = capsys.readouterr().out
        assert f"{digest}  emea/users:read (default)  2 x" in received
        # A role's ARN finds what its sessions received (the rules name roles, the log sessions)
        role = "arn:aws:iam::111122223333:role/reports/nightly-reports"
        assert vcc_token(["admin", "served-to", role, "--stack", LOCAL_STACK_NAME]) == 0
        by_role = capsys.readouterr().out
        assert f"emea/users:read (default) to {reports['principal_arn']}  1 x" in by_role
        assert token not in by_digest + by_token + received + by_role


def test_the_smoke_check_fails_when_it_cannot_read_the_refreshers_log_to_the_end(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = AwsFaultProxy(stack.aws_endpoint).start()
    try:
        proxy.inject(Fault("logs", "empty_pages", pages=MAX_PAGES + 10))
        assert smoke(stack, CALLERS[2], monkeypatch, aws_endpoint=proxy.endpoint) == 1
        out = capsys.readouterr().out
        assert "FAILED   refresher: " in out
        assert f"incomplete: stopped at the page limit ({MAX_PAGES})" in out
        assert "no completed run" not in out
    finally:
        proxy.stop()


def test_a_ledger_search_cut_short_says_so_instead_of_never_served(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """CloudWatch Logs may answer many empty pages (scanned time windows) before a match."""
    with own_stack() as quick:
        answer = quick.get("/tokens/nam/users:read", CALLERS[0])
        digest = hashlib.sha256(answer.json()["access_token"].encode()).hexdigest()
        as_operator(quick, monkeypatch)
        proxy = AwsFaultProxy(quick.aws_endpoint).start()
        try:
            monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
            who = ["admin", "who-had", digest, "--stack", LOCAL_STACK_NAME]
            # a few empty pages first: the search goes on and finds the caller
            proxy.inject(Fault("logs", "empty_pages", pages=5))
            assert vcc_token(who) == Exit.OK
            assert "was served to 1 caller(s)" in capsys.readouterr().out
            # more empty pages than the search reads: incomplete, never "never served"
            proxy.inject(Fault("logs", "empty_pages", pages=MAX_PAGES + 10))
            assert vcc_token(who) == Exit.INCOMPLETE
            said = capsys.readouterr().out
            assert "never served" not in said
            assert (
                f"incomplete: stopped at the page limit ({MAX_PAGES}) after {MAX_PAGES} pages"
                in said
            )
            assert proxy.requests["logs.FilterLogEvents"] == 6 + MAX_PAGES
        finally:
            proxy.stop()


def test_dead_letters_fail_list_redrive_and_the_queue_empties(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with own_stack() as quick:
        # Given an operator on make run's AWS, and a refresher run that fails as a whole
        # (its table is gone): Lambda retries it twice, then dead-letters it
        as_operator(quick, monkeypatch)
        dynamodb, sqs, logs = (boto3.client(name) for name in ("dynamodb", "sqs", "logs"))
        group = f"/aws/lambda/{LOCAL_STACK_NAME}/refresher"
        deadline = time.monotonic() + 60  # the stack's first scheduled run, then the failure
        while not any("lastEventTimestamp" in s for s in streams(logs, group)):
            assert time.monotonic() < deadline, "the first scheduled run did not log in 60 s"
            time.sleep(0.1)
        dynamodb.delete_table(TableName="vcc-tokens-local")
        queue = sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
        event = (ROOT / "events" / "scheduled_renewal.json").read_text()
        boto3.client("lambda").invoke(
            FunctionName=LOCAL_REFRESHER, InvocationType="Event", Payload=event
        )
        while waiting(sqs, queue) == 0:
            assert time.monotonic() < deadline, "no dead letter within 60 s"
            time.sleep(0.1)
        # When the operator lists them: the run, and why it failed
        dead = ["admin", "dead-letters", "--queue-url", queue]
        assert vcc_token([*dead, "list"]) == 0
        listed = capsys.readouterr().out
        assert "a scheduled run: 200: DependencyError: " in listed
        assert listed.rstrip().endswith("1 dead letter listed, of about 1 in the queue")
        # Then, the cause fixed, a redrive runs it again and empties the queue (the alarm's
        # metric, the visible messages, is back to 0: it clears)
        create_table_from_template(dynamodb, "vcc-tokens-local")
        assert vcc_token([*dead, "redrive", "--function", LOCAL_REFRESHER]) == 0
        assert "redriven and removed: 1" in capsys.readouterr().out
        assert waiting(sqs, queue) == 0
        # And a purge empties it too, only when confirmed
        sqs.send_message(QueueUrl=queue, MessageBody=event)
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        assert vcc_token([*dead, "purge"]) == 2
        assert waiting(sqs, queue) == 1
        assert vcc_token([*dead, "purge", "--yes"]) == 0
        assert waiting(sqs, queue) == 0


def streams(logs: object, group: str) -> list[dict[str, object]]:
    answer = logs.describe_log_streams(logGroupName=group)  # type: ignore[attr-defined]
    return list(answer["logStreams"])


def waiting(sqs: object, queue: str) -> int:
    answer = sqs.get_queue_attributes(  # type: ignore[attr-defined]
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(answer["Attributes"]["ApproximateNumberOfMessages"])


def test_unsigned_request_is_403_missing_token(stack: Stack) -> None:
    answer = stack.get("/tokens/emea/stats")
    assert (answer.status_code, answer.json()) == (403, {"message": "Missing Authentication Token"})


def test_tampered_request_is_403_signature_mismatch(stack: Stack) -> None:
    caller = CALLERS[0]
    headers = signed_headers(
        "GET",
        stack.url + "/tokens/emea/stats?min_ttl=30",
        caller["access_key_id"],
        caller["secret_access_key"],
    )
    answer = requests.get(stack.url + "/tokens/emea/stats?min_ttl=0", headers=headers, timeout=10)
    assert answer.status_code == 403
    assert "signature we calculated does not match" in answer.json()["message"]


def test_unknown_key_is_403(stack: Stack) -> None:
    stranger = {"access_key_id": "LOCALSTRANGER0000001", "secret_access_key": "whatever"}
    answer = stack.get("/tokens/emea/stats", stranger)
    assert (answer.status_code, answer.json()) == (
        403,
        {"message": "The security token included in the request is invalid."},
    )


def test_unknown_route_is_403_like_api_gateway(stack: Stack) -> None:
    answer = stack.get("/tokens/emea", CALLERS[0])
    assert (answer.status_code, answer.json()) == (403, {"message": "Missing Authentication Token"})


def test_caller_mistakes_pass_auth_and_get_the_handlers_400(stack: Stack) -> None:
    answer = stack.get("/tokens/mars/stats", CALLERS[2])
    assert (answer.status_code, answer.json()["error"]) == (400, "unknown_region")


def test_sigterm_stops_everything_and_frees_the_ports(stack: Stack) -> None:
    # (runs last in this module: it stops the stack)
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=15) == 0
    assert all(port_is_free(port) for port in stack.ports)
    with pytest.raises(requests.ConnectionError):
        requests.get(stack.url + "/tokens/emea/stats", timeout=2)


def test_a_broken_entitlements_file_stops_the_start(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text('{"version": 1, "rules": [{"principals": ["*"]}]}')
    process = start_stack(
        {"PORT": "0", "MOTO_PORT": "0", "VCC_EMULATOR_PORT": "0", "LOCAL_ENTITLEMENTS": str(rules)}
    )
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"entitlements file {rules}: rule 0: needs exactly the keys" in output


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ({"MAX_MIN_TTL": "ten"}, "cannot start: the service's settings: MAX_MIN_TTL"),
        ({"REFRESH_RATE_MINUTES": "0"}, "cannot start: REFRESH_RATE_MINUTES"),
        (
            {"REFRESH_RATE_MINUTES": "60", "RENEW_RATE_MINUTES": "5"},
            "REFRESH_RATE_MINUTES is the former name of RENEW_RATE_MINUTES",
        ),
    ],
)
def test_a_setting_the_service_refuses_stops_the_start_in_one_line(
    setting: dict[str, str], says: str
) -> None:
    process = start_stack({"PORT": "0", "MOTO_PORT": "0", "VCC_EMULATOR_PORT": "0", **setting})
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert says in output
    assert "Traceback" not in output


def test_the_former_name_of_the_renewal_period_is_read_as_the_service_reads_it() -> None:
    with own_stack({"REFRESH_RATE_MINUTES": "60"}) as quick:
        assert quick.get("/tokens/emea/users:read", CALLERS[0]).status_code == 200


@pytest.mark.parametrize("variable", ["PORT", "MOTO_PORT", "VCC_EMULATOR_PORT"])
def test_a_taken_port_is_reported_clearly(variable: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"PORT": "0", "MOTO_PORT": "0", "VCC_EMULATOR_PORT": "0", variable: str(port)}
        process = start_stack(ports)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"port {port} is in use; set {variable} to a free port" in output


def test_a_configured_upstream_replaces_the_emulator(emulator: VccEmulator) -> None:
    # Given any OAuth 2.0 token endpoint (here a second emulator) and its credentials
    client, _ = CLIENTS["nam"]  # HTTP Basic with an awkward secret
    port = free_port()
    process = start_stack(
        {
            "PORT": str(port),
            "MOTO_PORT": "0",
            "VCC_EMULATOR_PORT": "0",
            "VCC_TOKEN_URL_TEMPLATE": emulator.token_url_template,
            "VCC_CLIENT_ID": client.client_id,
            "VCC_CLIENT_SECRET": client.client_secret,
            "VCC_AUTH_METHOD": "client_secret_basic",
        }
    )
    try:
        assert process.stdout is not None
        printed = [process.stdout.readline()]  # the exports, then ready
        while "ready at" not in printed[-1] and printed[-1]:
            printed.append(process.stdout.readline())
        ready = printed[-1]
        assert f"upstream: VCC at {emulator.token_url_template}" in ready
        assert not any("VCC_EMULATOR_URL" in line for line in printed)  # no emulator to name
        url = f"http://127.0.0.1:{port}/tokens/apac/stats"
        caller = CALLERS[1]  # entitled to stats in every region (local/entitlements.json)
        headers = signed_headers("GET", url, caller["access_key_id"], caller["secret_access_key"])
        answer = requests.get(url, headers=headers, timeout=10)
        # Then the token comes from that endpoint, through the seeded secret's credentials
        assert answer.status_code == 200
        assert answer.json()["access_token"] in emulator.issued
        assert emulator.requests_by_region == {"apac": 1}
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    assert process.returncode == 0


def test_rotating_one_regions_secret_leaves_the_other_regions_served(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each region's seeded secret is its own emulator client (docs/operating.md's rehearsal
    re-issues emea's): the others keep working at their next renewal."""
    from local.inputs import SECRET_PREFIX, TABLE

    with own_stack() as quick:
        caller = CALLERS[2]  # the engineer: every read scope in every region
        reissued = requests.post(
            quick.emulator_url + "/_emulator/reissue",
            json={"client_id": "demo-emea", "previous_for": 0},  # the old secret refused at once
            timeout=10,
        ).json()["client_secret"]
        as_operator(quick, monkeypatch)
        monkeypatch.setattr("sys.stdin", io.StringIO(reissued))
        rotate = ["admin", "rotate", "--region", "emea", "--function", LOCAL_REFRESHER]
        rotate += ["--secret-prefix", SECRET_PREFIX, "--scope", "users:read"]
        assert vcc_token(rotate) == 0, capsys.readouterr()
        for region in ("nam", "apac"):  # nothing cached: each is fetched anew from VCC
            purge = ["admin", "purge", "--table", TABLE, "--region", region, "--yes"]
            assert vcc_token(purge) == 0
            assert quick.get(f"/tokens/{region}/users:read", caller).status_code == 200
        assert quick.get("/tokens/emea/stats", caller).status_code == 200


def alarm_state(stack: Stack, name: str) -> str:
    aws = {"endpoint_url": stack.aws_endpoint, "region_name": "eu-west-1"}
    keys = {"aws_access_key_id": "LOCALTEST", "aws_secret_access_key": "local-only"}
    cloudwatch = boto3.client("cloudwatch", **aws, **keys)
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(alarm["StateValue"])


def wait_for_state(stack: Stack, name: str, state: str, within: float) -> float:
    started = time.monotonic()
    while alarm_state(stack, name) != state:
        assert time.monotonic() - started < within, f"{name} not {state} within {within:.0f} s"
        time.sleep(0.2)
    return time.monotonic() - started


def test_a_template_alarm_goes_into_alarm_and_back_to_ok_on_make_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The credential alarm, as the template defines it (a 5-minute period, here divided by
    100), evaluated over the metrics the vending function emitted."""
    scale = 100.0
    period = 300 / scale
    with own_stack({"LOCAL_ALARM_TIME_SCALE": str(scale)}) as quick:
        alarm = f"{LOCAL_STACK_NAME}-credential-rejected"
        assert alarm_state(quick, alarm) == "OK"
        # Given VCC refusing the apac credential (its secret re-issued, the old one refused)
        requests.post(
            quick.emulator_url + "/_emulator/reissue",
            json={"client_id": "demo-apac", "previous_for": 0},
            timeout=10,
        ).raise_for_status()
        # When a caller's request meets the rejection
        assert quick.get("/tokens/apac/users:read", CALLERS[2]).status_code == 502
        # Then the alarm goes into ALARM, and the runbook's first look (smoke) says so
        took = wait_for_state(quick, alarm, "ALARM", within=10 * period)
        as_operator(quick, monkeypatch)
        assert smoke(quick, CALLERS[2], monkeypatch) == 1
        assert "credential-rejected" in capsys.readouterr().out.split("in ALARM: ")[1]
        # and back to OK once a period passes with no rejection
        cleared = wait_for_state(quick, alarm, "OK", within=10 * period)
        print(f"ALARM after {took:.1f} s, OK {cleared:.1f} s later (period {period:g} s)")


def test_the_dead_letter_rehearsal_fails_a_run_alarms_and_clears_after_a_redrive(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """LOCAL_FAILING_RUNS=1 make run, as docs/operating.md rehearses the dead-letter block."""
    scale = 100.0
    period = 300 / scale
    env = {"LOCAL_FAILING_RUNS": "1", "LOCAL_ALARM_TIME_SCALE": str(scale)}
    with own_stack(env) as quick:
        as_operator(quick, monkeypatch)
        queue = boto3.client("sqs").get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"]
        alarm = f"{LOCAL_STACK_NAME}-refresh-dead-letters"
        # Given the stack's first scheduled run failed as a whole, past its two retries
        wait_for_state(quick, alarm, "ALARM", within=10 * period)
        dead = ["admin", "dead-letters", "--queue-url", queue]
        assert vcc_token([*dead, "list"]) == 0
        listed = capsys.readouterr().out
        assert "a scheduled run: 200: RuntimeError: a scheduled run made to fail" in listed
        assert listed.rstrip().endswith("1 dead letter listed, of about 1 in the queue")
        # and the smoke check says the refresher has not completed a run
        assert smoke(quick, CALLERS[2], monkeypatch) == 1
        assert "FAILED   refresher: no completed run logged" in capsys.readouterr().out
        # When the operator redrives it, once
        assert vcc_token([*dead, "redrive", "--function", LOCAL_REFRESHER]) == 0
        assert "redriven and removed: 1" in capsys.readouterr().out
        # Then the alarm clears and the smoke check passes
        wait_for_state(quick, alarm, "OK", within=10 * period)
        assert smoke(quick, CALLERS[2], monkeypatch) == 0, capsys.readouterr().out
