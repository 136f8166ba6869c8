"""The emulator's demo clients (what make run seeds each region's secret with), and running it
alone: `python -m local.vcc_emulator`."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading

from local.vcc_emulator.endpoint import FAILURES, Client, VccEmulator
from local.vcc_emulator.server import API_PATH
from vcc_token_contract.vcc import REGIONS, SCOPES

DEMO_SCOPES = frozenset(s for s in SCOPES if s.endswith(":read") or s == "stats")  # reads only
# One client for every region (what the benchmark and a second local deployment use), then one
# per region, which make run seeds each region's secret with: re-issuing one region's secret
# (the rotation rehearsal) leaves the other regions' working
DEMO_CLIENTS = [
    Client("demo-client", "demo-secret-not-for-production", DEMO_SCOPES),
    *(
        Client(f"demo-{region}", f"demo-{region}-secret-not-for-production", DEMO_SCOPES)
        for region in REGIONS
    ),
]


def demo_client(region: str) -> Client:
    """The emulator's demo client that make run seeds `region`'s secret with."""
    return next(client for client in DEMO_CLIENTS if client.client_id == f"demo-{region}")


def describe(emulator: VccEmulator) -> str:
    """What a developer running the emulator alone needs: its routes and its clients (demo
    secrets, for local use only)."""
    base = emulator.base_url
    lines = [
        f"VCC emulator on {base}",
        f"  token endpoint  POST {emulator.token_url_template}  (region: {', '.join(REGIONS)})",
        f"  VCC API         GET  {base}/{{region}}{API_PATH}  (Authorization: Bearer <token>)",
        f"  control         GET {base}/_emulator/stats; POST /_emulator/fail "
        '{"failure": NAME, "count": N}, /_emulator/reset, /_emulator/revoke {}, '
        '/_emulator/reissue {"client_id": ID, "previous_for": S}',
        f"  failures        {', '.join(FAILURES)}",
        "  clients (local demo credentials):",
    ]
    for client in emulator.clients.values():
        lines.append(
            f"    client_id={client.client_id} client_secret={client.client_secret} "
            f"scopes={','.join(sorted(client.scopes))}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="An emulator of VCC's OAuth 2.0 token endpoint")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--expires-in", type=int, default=900, help="0 omits expires_in")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--clients", help='JSON file: [{"client_id", "client_secret", "scopes"}]')
    args = parser.parse_args()
    clients = DEMO_CLIENTS
    if args.clients:
        with open(args.clients, encoding="utf-8") as file:
            clients = [
                Client(c["client_id"], c["client_secret"], frozenset(c["scopes"]))
                for c in json.load(file)
            ]
    emulator = VccEmulator(
        clients,
        host=args.host,
        port=args.port,
        expires_in=args.expires_in or None,
        latency=args.latency,
    )
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=emulator.stop).start())
    print(describe(emulator), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()
