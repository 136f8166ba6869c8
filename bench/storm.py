"""(f) A 429 storm over time: callers keep asking for a key nobody holds while VCC refuses."""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections import Counter

from bench.common import STORM_SCOPE, percentile, status_of
from bench.report import Storm
from local.vcc_emulator import VccEmulator
from vcc_tokens import wiring
from vcc_tokens.values.config import Settings
from vcc_tokens.values.token_request import TokenRequest
from vcc_tokens.vending import TokenVendor


def storm(emulator: VccEmulator, seconds: float = 30.0, callers: int = 3) -> Storm:
    """Callers ask every 100 ms for a key nobody holds while VCC answers 429 with
    Retry-After 7 s twice, then grants: what callers get, and what VCC sees, over time. Each
    refusal keeps everyone off VCC for its Retry-After plus the clock-skew tolerance (5 s)."""
    settings = Settings.from_env(os.environ)
    vendors = [wiring.build_vendor(settings) for _ in range(callers)]
    request = TokenRequest("emea", STORM_SCOPE, 60)
    emulator.reset()
    emulator.fail_next("rate_limited", 2)
    answers: list[tuple[float, float, int]] = []
    vcc: list[tuple[float, int]] = [(0.0, 0)]
    started = time.monotonic()

    def ask(vendor: TokenVendor) -> None:
        while (at := time.monotonic() - started) < seconds:
            began = time.perf_counter()
            status = int(status_of(vendor, request))
            answers.append((at, (time.perf_counter() - began) * 1000, status))
            time.sleep(0.1)

    def watch() -> None:
        while (at := time.monotonic() - started) < seconds:
            vcc.append((at, emulator.token_requests))
            time.sleep(0.05)

    threads = [threading.Thread(target=ask, args=(vendor,)) for vendor in vendors]
    threads.append(threading.Thread(target=watch))
    # The vendors run outside a handler, so nothing flushes their metrics but Powertools' own
    # flush at 100 values, which prints EMF whatever POWERTOOLS_METRICS_DISABLED says: kept
    # out of the report's tables.
    with contextlib.redirect_stdout(io.StringIO()):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
    return Storm(sorted(answers), vcc)


def print_storm(timeline: Storm) -> None:
    statuses = Counter(status for _, _, status in timeline.answers)
    refused = [ms for _, ms, status in timeline.answers if status != 200]
    first_token = min((at for at, _, status in timeline.answers if status == 200), default=None)
    print("\n(f) a 429 storm: 3 callers every 100 ms, VCC answers 429 (Retry-After 7 s) twice")
    print("| callers' answers | refused answers p50 / p99, ms | first token at | VCC requests |")
    print("|---|---:|---:|---:|")
    answered = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
    slow = f"{percentile(refused, 0.5):.1f} / {percentile(refused, 0.99):.1f}" if refused else "-"
    when = f"{first_token:.1f} s" if first_token is not None else "never"
    print(f"| {answered} | {slow} | {when} | {timeline.vcc_requests[-1][1]} |")
