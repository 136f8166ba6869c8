"""One upstream request per token lifetime, on the real local servers (moto server, the VCC
emulator): single-flight across processes, lease takeover, renewal ahead, the scheduler, and
the refresh endpoint under a burst of 401s."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from local.lambda_runtime import LambdaContext, load_function
from local.vcc_emulator import VccEmulator
from tests.conftest import Service
from tests.support import api_event, invoke
from tests.workers import vend_after_barrier, vend_once
from vcc_token_contract.events import RENEW, renewal_event
from vcc_tokens import wiring
from vcc_tokens.aws.handover import Renewer
from vcc_tokens.aws.table import DynamoDBTokenTable
from vcc_tokens.values.config import Settings
from vcc_tokens.values.token_request import TokenRequest
from vcc_tokens.values.tokens import CachedToken, CacheEntry, Key
from vcc_tokens.vending import CacheOutcome, Source, TokenVendor

pytestmark = pytest.mark.integration

SCOPE = "agents-availability:read"
REQUEST = TokenRequest("emea", SCOPE, 60)
SPAWN = multiprocessing.get_context("spawn")  # fresh interpreters, like cold Lambda instances


@pytest.fixture(autouse=True)
def _patient_aws_reads(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto serves one request at a time (see local.stack), so 50 processes polling it queue
    for longer than the 1 s read timeout that real DynamoDB never comes near, the more so on a
    busy machine: reads may take 5 s, and are not retried (a retry only adds to the queue), so
    one AWS call takes at most 6 s and a request of 28 s keeps 16 s to wait for the holder."""
    monkeypatch.setenv("AWS_READ_TIMEOUT", "5")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("REQUEST_BUDGET_SECONDS", "28")
    # The VCC emulator shares the test process's CPU with moto: on a busy machine its 150 ms
    # answer may take seconds. The production read timeout and fetch budget (5 s, 8 s) keep a
    # slow answer from looking like a lost one (a lost one is fetched again: a second grant).
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "5")
    monkeypatch.setenv("UPSTREAM_BUDGET_SECONDS", "8")
    wiring.reset()


def instance(clock: Callable[[], float] = time.time) -> TokenVendor:
    """A separate 'Lambda instance': its own clients and memory, the shared table and VCC."""
    return wiring.build_vendor(Settings.from_env(os.environ), clock)


def cache_for(service: Service) -> DynamoDBTokenTable:
    return service.table


def put_token(service: Service, access_token: str, seconds_left: int) -> CachedToken:
    return service.put_token("emea", SCOPE, access_token, int(time.time()) + seconds_left)


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout} s")


@pytest.mark.parametrize("key_state", ["empty", "expired"])
def test_50_processes_on_a_cold_key_cause_one_upstream_request(
    service: Service, emulator: VccEmulator, key_state: str
) -> None:
    # Given a key with no usable token, and VCC answering after 150 ms
    if key_state == "expired":
        put_token(service, "expired-token", seconds_left=-5)
    emulator.latency = 0.15
    callers = 50
    barrier = SPAWN.Barrier(callers + 1)
    results = SPAWN.Queue()
    workers = [
        SPAWN.Process(target=vend_after_barrier, args=(api_event("emea", SCOPE), barrier, results))
        for _ in range(callers)
    ]
    for worker in workers:
        worker.start()
    try:
        # When all 50 ask at once
        barrier.wait(timeout=180)
        answers = [results.get(timeout=60) for _ in range(callers)]
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()
    # Then VCC saw exactly one request, and everybody got its token
    assert emulator.token_requests == 1
    assert {status for status, _ in answers} == {200}, [b for s, b in answers if s != 200][:3]
    tokens = {body["access_token"] for _, body in answers}
    assert len(tokens) == 1
    assert tokens <= set(emulator.issued)
    assert min(body["expires_in"] for _, body in answers) > 800


def test_a_killed_lease_holder_is_taken_over_once_its_lease_and_the_tolerance_run_out(
    service: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a lease of 3 + 1 = 4 s (the fetch budget and a second), and a holder whose VCC
    # request hangs
    monkeypatch.setenv("UPSTREAM_READ_TIMEOUT", "3")
    monkeypatch.setenv("UPSTREAM_BUDGET_SECONDS", "3")
    # a small clock-skew tolerance: the takeover then fits the request with these slow AWS reads
    monkeypatch.setenv("CLOCK_SKEW_SECONDS", "1")
    wiring.reset()
    emulator.hang_seconds = 10
    emulator.fail_next("timeout")
    holder = SPAWN.Process(target=vend_once, args=(api_event("emea", SCOPE),))
    holder.start()
    cache, key = cache_for(service), Key("emea", SCOPE)
    entry: CacheEntry = wait_for(
        lambda: (e := cache.get(key, consistent=True)) and e.lease and e, timeout=60
    )
    # When the holder dies mid-fetch (its request has reached VCC)
    wait_for(lambda: emulator.token_requests == 1)
    holder.kill()
    holder.join(timeout=10)
    # Then the next caller waits out the lease (and the clock-skew tolerance), takes it over
    # and fetches
    response = invoke(vend_handler, api_event("emea", SCOPE))
    assert response.status == 200  # inside the request's deadline
    assert emulator.token_requests == 2  # the dead holder's, and the takeover's
    # and the takeover came only once the lease (and the skew tolerance) had run out
    taken_over = service.cached_token("emea", SCOPE)
    assert taken_over is not None
    assert taken_over.fetched_at >= int(entry.lease.until + wiring.token_vendor().skew)
    assert response.body["access_token"] in emulator.issued


def test_renewal_ahead_serves_the_old_token_while_another_instance_renews(
    service: Service, emulator: VccEmulator
) -> None:
    # Given a valid token inside its renewal margin (150 s left of 900: margin 180 s)
    old = put_token(service, "old-but-valid", seconds_left=150)
    emulator.latency = 0.5  # well under the read timeout
    renewer, bystander = instance(), instance()
    renewal: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: renewal.update(vend=renewer.vend(REQUEST)))
    thread.start()
    wait_for(lambda: cache_for(service).get(Key("emea", SCOPE), consistent=True).lease)  # type: ignore[union-attr]
    # When another instance asks while the renewal is under way
    served = bystander.vend(REQUEST)
    renewal_still_running = thread.is_alive()
    thread.join(timeout=10)
    # Then it got the old token at once, and the renewal stored a new one
    assert renewal_still_running
    assert (served.token.access_token, served.outcome) == (old.access_token, CacheOutcome.HIT)
    assert renewal["vend"].token.access_token != old.access_token
    assert emulator.token_requests == 1
    assert instance().vend(REQUEST).token == renewal["vend"].token


class ThreadRenewer(Renewer):
    """What Lambda's asynchronous invocation of the refresher does, in a thread: the real
    refresher handler, with the event the vending function sends."""

    def __init__(self) -> None:
        self.refresher = load_function("refresher").lambda_handler
        self.threads: list[threading.Thread] = []

    def request(self, region: str, scope: str, lease_owner: str) -> None:
        event = renewal_event(region, scope, lease_owner)
        thread = threading.Thread(target=self.refresher, args=(event, LambdaContext("renew")))
        thread.start()
        self.threads.append(thread)


def test_a_due_token_is_renewed_by_the_refresher_while_its_caller_gets_it_at_once(
    service: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a valid token inside its margin, VCC answering after 0.5 s, and the vending
    # function handing renewals to the refresher (as RENEWAL_FUNCTION_NAME does in AWS)
    old = put_token(service, "old-but-valid", seconds_left=150)
    emulator.latency = 0.5
    renewer = ThreadRenewer()
    monkeypatch.setattr(wiring, "renewal_function", lambda settings: renewer)
    wiring.reset()
    # When a caller asks
    answer = invoke(vend_handler, api_event("emea", SCOPE))
    renewing_when_answered = renewer.threads[0].is_alive()
    # Then it got the valid token without waiting for the renewal, which then stored a new one
    assert answer.body["access_token"] == old.access_token
    assert renewing_when_answered
    renewer.threads[0].join(timeout=10)
    assert len(renewer.threads) == 1
    assert emulator.token_requests == 1
    renewed = service.cached_token("emea", SCOPE)
    assert renewed is not None
    assert renewed.access_token != old.access_token
    assert renewed.seconds_left(time.time()) > 800


def test_the_scheduler_keeps_a_15_minute_key_warm_through_a_simulated_hour(
    service: Service, emulator: VccEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a scheduler every 5 minutes and a caller every minute, on one simulated clock
    monkeypatch.setenv("RENEW_RATE_MINUTES", "5")
    now = [time.time()]
    scheduler, caller = instance(lambda: now[0]), instance(lambda: now[0])
    assert caller.vend(REQUEST).outcome is CacheOutcome.MISS  # the key's first request
    renewals = 0
    for minute in range(1, 61):
        now[0] += 60
        if minute % 5 == 0:
            renewals += scheduler.renew_due().renewed
        before = emulator.token_requests
        vend = caller.vend(REQUEST)
        # Then no caller ever waits for VCC or sees a token near expiry
        assert vend.outcome is CacheOutcome.HIT, f"minute {minute}: {vend.outcome}"
        assert vend.source in (Source.MEMORY, Source.DYNAMODB)
        assert emulator.token_requests == before
        assert vend.token.seconds_left(now[0]) > 180
    # One renewal each time a token came within margin + period of expiry: every 10 minutes
    assert renewals == 6
    assert emulator.token_requests == 7


def test_20_concurrent_refreshes_of_the_same_rejected_token_cause_one_upstream_request(
    service: Service, emulator: VccEmulator
) -> None:
    old = put_token(service, "rejected-by-vcc", seconds_left=600)
    emulator.latency = 0.15
    instances = [instance() for _ in range(20)]
    barrier = threading.Barrier(len(instances))
    results: list[Any] = []

    def refresh(vendor: TokenVendor) -> None:
        barrier.wait(timeout=30)
        results.append(vendor.refresh(Key("emea", SCOPE), old.sha256))

    threads = [threading.Thread(target=refresh, args=(vendor,)) for vendor in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert emulator.token_requests == 1
    assert len(results) == 20
    tokens = {result.token.access_token for result in results}
    assert len(tokens) == 1
    assert tokens != {old.access_token}
    assert sorted(result.outcome for result in results).count(CacheOutcome.REFRESHED) == 1


class CapturingRenewer(Renewer):
    """Keeps the event the vending function hands over, for the test to deliver."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def request(self, region: str, scope: str, lease_owner: str) -> None:
        self.events.append(renewal_event(region, scope, lease_owner))


def test_a_renewal_event_delivered_twice_at_once_costs_one_grant(
    service: Service, emulator: VccEmulator, vend_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a due token handed over for renewal, and VCC answering after 0.3 s
    put_token(service, "old-but-valid", seconds_left=150)
    renewer = CapturingRenewer()
    monkeypatch.setattr(wiring, "renewal_function", lambda settings: renewer)
    wiring.reset()
    assert invoke(vend_handler, api_event("emea", SCOPE)).status == 200
    (event,) = renewer.events
    emulator.latency = 0.3
    # When Lambda delivers the event twice, at the same time, to two refresher instances
    refreshers = [instance(), instance()]
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def deliver(vendor: TokenVendor) -> None:
        barrier.wait(timeout=30)
        key = event[RENEW]
        results.append(
            vendor.renew_handed_over(Key(key["region"], key["scope"]), key["lease_owner"])
        )

    threads = [threading.Thread(target=deliver, args=(vendor,)) for vendor in refreshers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then one claimed the lease and renewed; the other did nothing
    assert sorted(results) == [False, True]
    assert emulator.token_requests == 1
    renewed = service.cached_token("emea", SCOPE)
    assert renewed is not None
    assert renewed.access_token != "old-but-valid"


@pytest.mark.parametrize(
    "payload",
    [
        {"region": "mars", "scope": SCOPE, "lease_owner": "0" * 32},
        {"region": "emea", "scope": "statz", "lease_owner": "0" * 32},
        {"region": "emea", "scope": SCOPE, "lease_owner": "not-an-owner"},
        {"region": "emea", "scope": SCOPE},
        "emea",
    ],
    ids=["unknown-region", "unknown-scope", "bad-owner", "no-owner", "not-an-object"],
)
def test_a_malformed_renewal_event_is_refused_without_a_grant(
    service: Service, emulator: VccEmulator, payload: Any
) -> None:
    put_token(service, "old-but-valid", seconds_left=150)
    refresher = load_function("refresher").lambda_handler
    answer = refresher({RENEW: payload}, LambdaContext("renew"))
    assert answer == {"renewed": False, "refused": answer["refused"]}
    assert answer["refused"] in ("unknown_region", "unknown_scope", "invalid_request")
    assert emulator.token_requests == 0


def test_an_instance_whose_clock_runs_ahead_waits_for_a_fresh_lease(
    service: Service, emulator: VccEmulator
) -> None:
    # Given an instance fetching a cold key slowly under its lease (VCC answers after 0.6 s)
    emulator.latency = 0.6
    holder = instance()
    fetched: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: fetched.update(vend=holder.vend(REQUEST)))
    thread.start()
    key = Key("emea", SCOPE)
    wait_for(lambda: (e := cache_for(service).get(key, consistent=True)) and e.lease)
    # When an instance whose clock is ahead by the lease's length (within the tolerance) asks
    ahead = holder.settings.lease_seconds + 0.5  # its clock says the lease has expired
    assert ahead - holder.settings.lease_seconds < holder.settings.clock_skew_seconds
    fast = instance(lambda: time.time() + ahead)
    served = fast.vend(REQUEST)
    thread.join(timeout=30)
    # Then it took the holder's token rather than the lease: one grant
    assert served.source is Source.LEASE_WAIT
    assert served.token == fetched["vend"].token
    assert emulator.token_requests == 1
