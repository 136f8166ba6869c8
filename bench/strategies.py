"""(a) Upstream token requests for N callers x M requests spread over one simulated token
lifetime: this service (several Lambda instances, the scheduled refresher on) versus each
caller caching its own token in process (golang.org/x/oauth2's rule: reuse until 10 s before
expiry) versus fetching on every call."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.common import DIRECT_BUDGET, LIFETIME, SCOPE, demo_credentials, direct_endpoint
from bench.report import AwsCalls, counting_aws_calls
from local.vcc_emulator import VccEmulator
from vcc_tokens import wiring
from vcc_tokens.values.config import Settings
from vcc_tokens.values.token_request import TokenRequest

CALLERS, REQUESTS_EACH, INSTANCES = 20, 30, 5
GO_OAUTH2_EXPIRY_DELTA = 10  # golang.org/x/oauth2 treats a token as expired 10 s early

Schedule = list[tuple[float, int]]  # (when, which caller)
Timeline = list[tuple[float, int]]  # (seconds in, upstream requests so far)


@dataclass
class StrategyRun:
    """(a)'s counts, each strategy's requests over time, and what this service's run used."""

    requests: dict[str, int] = field(default_factory=dict)
    timelines: dict[str, Timeline] = field(default_factory=dict)
    sources: Counter[str] = field(default_factory=Counter)
    calls: AwsCalls = field(default_factory=AwsCalls)


def upstream_requests(emulator: VccEmulator) -> StrategyRun:
    """Token requests reaching VCC under three strategies, same callers, same schedule."""
    rng = random.Random(7)  # a repeatable schedule  # noqa: S311  # nosec B311
    start = time.time()
    schedule = sorted(
        (start + rng.uniform(0, LIFETIME), caller)
        for caller in range(CALLERS)
        for _ in range(REQUESTS_EACH)
    )
    run = StrategyRun()
    this_service(run, emulator, schedule, start)
    each_caller_caches(run, emulator, schedule, start)
    run.timelines["fetch on every call"] = [
        (when - start, number) for number, (when, _) in enumerate(schedule, start=1)
    ]
    run.requests["fetch on every call"] = fetch_every_call(emulator)
    return run


def this_service(run: StrategyRun, emulator: VccEmulator, schedule: Schedule, start: float) -> None:
    """Callers spread over INSTANCES Lambda instances, the refresher at the template's rate."""
    emulator.reset()
    now = [start]
    settings = Settings.from_env(os.environ)
    line = run.timelines.setdefault("this service", [(0.0, 0)])
    with counting_aws_calls() as calls:
        instances = [wiring.build_vendor(settings, lambda: now[0]) for _ in range(INSTANCES)]
        refresher = wiring.build_vendor(settings, lambda: now[0])
        next_run = start + settings.renew_rate_seconds
        for when, caller in schedule:
            while next_run <= when:
                now[0] = next_run
                refresher.renew_due()
                next_run += settings.renew_rate_seconds
            now[0] = when
            vend = instances[caller % INSTANCES].vend(TokenRequest("emea", SCOPE, 60))
            run.sources[vend.source.value] += 1
            line.append((when - start, emulator.token_requests))
    run.calls = calls
    run.requests["this service"] = emulator.token_requests


def each_caller_caches(
    run: StrategyRun, emulator: VccEmulator, schedule: Schedule, start: float
) -> None:
    """Each caller caches its own token in process, as golang.org/x/oauth2 does."""
    emulator.reset()
    endpoint = direct_endpoint(Settings.from_env(os.environ))
    credentials = demo_credentials()
    expiry: dict[int, float] = {}
    line = run.timelines.setdefault("each caller caches its own", [(0.0, 0)])
    for when, caller in schedule:
        if expiry.get(caller, 0) - GO_OAUTH2_EXPIRY_DELTA <= when:
            expiry[caller] = (
                when + endpoint.fetch("emea", SCOPE, credentials, DIRECT_BUDGET).expires_in
            )
        line.append((when - start, emulator.token_requests))
    run.requests["each caller caches its own"] = emulator.token_requests


def fetch_every_call(emulator: VccEmulator) -> int:
    """Fetching on every call (callers in parallel threads, so the run stays short)."""
    emulator.reset()
    endpoint = direct_endpoint(Settings.from_env(os.environ))
    credentials = demo_credentials()

    def caller_fetches(count: int) -> None:
        for _ in range(count):
            endpoint.fetch("emea", SCOPE, credentials, DIRECT_BUDGET)

    threads = [
        threading.Thread(target=caller_fetches, args=(REQUESTS_EACH,)) for _ in range(CALLERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return emulator.token_requests


def print_strategies(run: StrategyRun) -> None:
    print(
        f"(a) upstream token requests: {CALLERS} callers x {REQUESTS_EACH} requests "
        f"({CALLERS * REQUESTS_EACH}) over one {LIFETIME} s token lifetime"
    )
    print("| strategy | upstream requests |\n|---|---:|")
    for strategy, count in run.requests.items():
        print(f"| {strategy} | {count} |")
