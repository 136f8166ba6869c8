"""`make bench`: what the service saves and costs, measured in one run on the local stack.

moto server stands in for AWS and the VCC emulator answers after BENCH_UPSTREAM_LATENCY seconds
(default 0.15, like a real token endpoint across a region). Prints one table:

(a) upstream token requests for N callers x M requests spread over one simulated token lifetime:
    this service (several Lambda instances, the scheduled refresher on) versus each caller caching
    its own token in process (golang.org/x/oauth2's rule: reuse until 10 s before expiry) versus
    fetching on every call;
(b) p50/p99 latency of a vend through the handler, served from memory, from DynamoDB, after a
    miss, and of a direct upstream fetch;
(c) cold start: importing each function module, and the vend function's first cached answer, in
    fresh processes alternated with a bare `import boto3` (medians of 9 rounds, as ratios), with
    peak memory (max RSS) and the built layer's unzipped size;
(d) AWS faults: with a fault-injecting proxy (local/aws_faults.py) between the function and
    moto, what callers get (status, Retry-After, time) and how many requests reach VCC;
(e) untrusted inputs against their bounds; (f) a 429 storm over time; (g) what the one INFO line
    per token costs; (h) the cost of a million served tokens, and of a month (costs.py,
    report.py); (i) DynamoDB writes per token fetched from VCC.
One module per scenario in this package; __main__ runs them in order on one local stack. Writes
docs/bench.png: (a) over time, (b) as distributions, and (f)'s timeline.
"""

import os

from local.stack import function_environment

# Powertools reads its settings when vcc_tokens is imported (by the scenarios): the template's,
# quieter.
os.environ.update(
    {
        **function_environment(),
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",  # (d) makes the service log every fault
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
)
