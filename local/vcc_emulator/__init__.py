"""An emulator of VCC's OAuth 2.0 token endpoint, faithful to docs/vcc-authentication.md.

- `POST /Auth/connect/token` (also lower case, and under a `/{region}` prefix so one emulator
  serves every region: `http://127.0.0.1:PORT/{region}/Auth/connect/token`).
- client-credentials grant, client authentication in the form body or with HTTP Basic
  (id and secret form-urlencoded before base64, RFC 6749 §2.3.1), never both;
- per-client allowed scopes, configurable `expires_in` (or none), latency and token size (a JWT
  with many claims can be tens of KB; VCC documents no limit);
- the documented error bodies: invalid_client, invalid_scope, unsupported_grant_type, 429, 500;
- failures injected on demand for tests (`fail_next`), and a count of the requests it served;
- a VCC API endpoint, `GET /agents-availability` (also under `/{region}`), that accepts only
  live tokens it issued and answers 401 "The access token is invalid or has expired" otherwise;
  tokens can be revoked on demand, so callers' 401 handling can be tested for real.

Run alone for development:
    python -m local.vcc_emulator --port 8081 --expires-in 900 --latency 0.15
Control endpoints (JSON): GET /_emulator/stats, POST /_emulator/fail {"failure": ..., "count": N},
POST /_emulator/reset (counters and pending failures), POST /_emulator/revoke
{"token_sha256": hex} (or {} to revoke every token), POST /_emulator/reissue {"client_id",
"previous_for": seconds} (a new secret, as VCC's portal re-issues one). It prints its routes and
clients at start.

The package: `endpoint.py` (VCC's rules: clients, tokens, the token and API answers, the
injected failures), `server.py` (HTTP and the test controls), `demo.py` (the demo clients and
running it alone).
"""

from local.vcc_emulator.demo import DEMO_CLIENTS, DEMO_SCOPES, demo_client, describe
from local.vcc_emulator.endpoint import FAILURES, Client, VccEmulator

__all__ = [
    "DEMO_CLIENTS",
    "DEMO_SCOPES",
    "FAILURES",
    "Client",
    "VccEmulator",
    "demo_client",
    "describe",
]
