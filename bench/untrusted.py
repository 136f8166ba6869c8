"""(e) Untrusted inputs against their bounds: VCC answers dripped or too short-lived, and one
renewal event delivered twice at once; what VCC grants against the bound."""

from __future__ import annotations

import os
import threading
import time

from bench.common import counted, status_of
from local.odd_upstream import OddUpstream
from local.vcc_emulator import VccEmulator
from vcc_tokens import wiring
from vcc_tokens.aws.handover import Renewer
from vcc_tokens.values.config import Settings
from vcc_tokens.values.token_request import TokenRequest
from vcc_tokens.values.tokens import CachedToken, Key
from vcc_tokens.vending import TokenVendor


class CapturingRenewer(Renewer):
    """Keeps the renewal event a vending instance hands over, for the bench to deliver."""

    def __init__(self) -> None:
        self.leases: list[tuple[str, str, str]] = []

    def request(self, region: str, scope: str, lease_owner: str) -> None:
        self.leases.append((region, scope, lease_owner))


def untrusted_inputs(emulator: VccEmulator) -> list[tuple[object, ...]]:
    """VCC answers and events the service must bound: grants against the bound."""
    odd = OddUpstream()
    rows: list[tuple[object, ...]] = []
    try:
        env = {**os.environ, "VCC_TOKEN_URL_TEMPLATE": odd.token_url_template}
        settings = Settings.from_env(env)
        cases = [
            ("body dripped a byte per 50 ms after the headers", "users:read", 0.05, 0.0, 900),
            ("status line and headers dripped a byte per 200 ms", "admin:read", 0.0, 0.2, 900),
            ("expires_in: 1", "stats", 0.0, 0.0, 1),
        ]
        for what, scope, drip, header_drip, lifetime in cases:
            odd.reset()
            odd.answer(access_token="eyJ" + "a" * 2000, token_type="Bearer", expires_in=lifetime)
            odd.drip_seconds, odd.header_drip_seconds = drip, header_drip
            request = TokenRequest("emea", scope, 60)
            started = time.monotonic()
            statuses = [
                status_of(vendor, request)
                for vendor in (wiring.build_vendor(settings) for _ in range(3))
                for _ in range(2)
            ]
            took = f"{time.monotonic() - started:.1f} s"
            rows.append((what, len(statuses), counted(statuses), odd.requests, "1", took))
    finally:
        odd.stop()
    rows.append(duplicate_renewal_event(emulator))
    return rows


def duplicate_renewal_event(emulator: VccEmulator) -> tuple[object, ...]:
    """One renewal event delivered twice at once to two refresher instances."""
    settings = Settings.from_env(os.environ)
    renewer = CapturingRenewer()
    vending = wiring.build_vendor(settings, renewer=renewer)
    now = int(time.time())
    scope = "interaction-content:read"
    vending.table.put(CachedToken("emea", scope, "due-token", "Bearer", now - 760, now + 140))
    emulator.reset()
    started = time.monotonic()
    vending.vend(TokenRequest("emea", scope, 60))
    ((region, _, owner),) = renewer.leases
    refreshers = [wiring.build_vendor(settings) for _ in range(2)]
    barrier = threading.Barrier(2)
    renewed: list[bool] = []

    def deliver(refresher: TokenVendor) -> None:
        barrier.wait(timeout=30)
        renewed.append(refresher.renew_handed_over(Key(region, scope), owner))

    threads = [threading.Thread(target=deliver, args=(refresher,)) for refresher in refreshers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    took = f"{time.monotonic() - started:.1f} s"
    outcomes = counted(["renewed" if done else "skipped" for done in renewed])
    event = "the same renewal event delivered twice at once"
    return (event, 2, outcomes, emulator.token_requests, "1", took)


def print_untrusted(rows: list[tuple[object, ...]]) -> None:
    print(
        "\n(e) untrusted inputs: what VCC grants against the bound (3 instances, 2 requests each)"
    )
    print("| input | requests | answers | VCC grants | bound | took |")
    print("|---|---:|---|---:|---|---:|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
