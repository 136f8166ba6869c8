"""What the service costs a month, as the operator sets its tracing dial: the fixed costs
totalled, and three organization sizes, from the bench's per-million figures.

Assumptions (say so wherever a figure is shown): callers use the client, which asks once per
token lifetime (15 minutes) per key, each calling service using 2 keys (region, scope); 3 VCC
regions, one credential each (3 secrets); a 30-day month; the stack's defaults otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.report import (
    LAMBDA_ARM64_PER_GB_SECOND,
    LAMBDA_REQUESTS_PER_MILLION,
    XRAY_PER_MILLION_TRACES,
)
from generators.metric_catalog import emitted_names, per_credential_names
from local.stack import load_template
from vcc_token_contract.events import DEFAULT_RENEW_RATE_MINUTES
from vcc_token_contract.metrics import ROUTINE

# List prices of the fixed items (us-east-1, as PRICES_AS_OF says for the rest)
KMS_KEY_PER_MONTH = 1.00
SECRET_PER_MONTH = 0.40
CUSTOM_METRIC_PER_MONTH = 0.30  # the first 10,000 metrics
DASHBOARD_PER_MONTH = 3.00
ALARM_PER_MONTH = 0.10  # a standard-resolution alarm (Metrics Insights alarms: per query)
LOGS_INSIGHTS_PER_GB_SCANNED = 0.005
DASHBOARD_HOURS = 3  # a dashboard's default time range: what its Logs Insights widget scans

MINUTES_PER_MONTH = 30 * 24 * 60
CREDENTIALS = 3  # one per VCC region
KEYS_PER_SERVICE = 2
TOKEN_LIFETIME_MINUTES = 15
ORGANIZATIONS = (10, 100, 1_000)  # calling services
REFRESHER_RUN_SECONDS = 0.2  # a scheduled run over a few dozen keys, at 512 MB


@dataclass(frozen=True)
class Tracing:
    name: str
    traced_share: float  # of the API's requests
    refresher_traced: bool  # Lambda's own sampling: every run (each the first in its second)


def tracing_choices() -> list[Tracing]:
    """Off (the default), the stack's rule at its default rate, and X-Ray's default rule (the
    first request each second and 5% of the rest: for a service asked a few times a second,
    nearly every request, priced as every one: the upper bound)."""
    parameters = load_template()["Parameters"]
    rate = float(parameters["TracingSampleRate"]["Default"])
    return [
        Tracing("off (default)", 0.0, False),
        Tracing(f"stack rule, {100 * rate:g}%", rate, True),
        Tracing("X-Ray default", 1.0, True),
    ]


def fixed_monthly() -> list[tuple[str, float]]:
    """(item, dollars a month) whatever the traffic (tracing aside)."""
    resources = load_template()["Resources"].values()
    alarms = sum(1 for r in resources if r["Type"] == "AWS::CloudWatch::Alarm")
    runs = MINUTES_PER_MONTH / DEFAULT_RENEW_RATE_MINUTES
    refresher = runs * (
        LAMBDA_REQUESTS_PER_MILLION / 1e6 + 0.5 * REFRESHER_RUN_SECONDS * LAMBDA_ARM64_PER_GB_SECOND
    )
    return [
        ("KMS key (the token cache's)", KMS_KEY_PER_MONTH),
        (f"Secrets Manager, {CREDENTIALS} secrets", CREDENTIALS * SECRET_PER_MONTH),
        (
            f"custom metrics a healthy month emits, {len(ROUTINE)} (fetches, their latency, "
            "the schedule's runs and renewals, hand-overs, lease waits)",
            len(ROUTINE) * CUSTOM_METRIC_PER_MONTH,
        ),
        ("the dashboard", DASHBOARD_PER_MONTH),
        (f"{alarms} alarms", alarms * ALARM_PER_MONTH),
        (f"the scheduled refresher, {runs:,.0f} runs", refresher),
    ]


def event_metrics() -> tuple[int, float]:
    """The metrics only a month with their event emits, all of them at most: every fault kind,
    fallback and backoff answers, and each credential's counts for each credential; (series,
    dollars a month)."""
    shared = emitted_names() - per_credential_names() - set(ROUTINE)
    series = len(shared) + len(per_credential_names()) * CREDENTIALS
    return series, series * CUSTOM_METRIC_PER_MONTH


def dashboard_view(services: int, bytes_per_token: float) -> float:
    """Dollars one look at the dashboard costs: its ledger widget scans the vend function's
    lines of the last DASHBOARD_HOURS."""
    scanned = tokens_per_month(services) * DASHBOARD_HOURS / (30 * 24) * bytes_per_token / 1e9
    return scanned * LOGS_INSIGHTS_PER_GB_SCANNED


def tokens_per_month(services: int) -> float:
    return services * KEYS_PER_SERVICE * MINUTES_PER_MONTH / TOKEN_LIFETIME_MINUTES


def monthly(services: int, per_million: float, tracing: Tracing) -> float:
    """Dollars a month: fixed costs, the served tokens at `per_million` (tracing aside), and
    the traces recorded."""
    served = tokens_per_month(services)
    traces = served * tracing.traced_share
    if tracing.refresher_traced:
        traces += MINUTES_PER_MONTH / DEFAULT_RENEW_RATE_MINUTES
    fixed = sum(dollars for _, dollars in fixed_monthly())
    return fixed + served / 1e6 * per_million + traces / 1e6 * XRAY_PER_MILLION_TRACES


def print_monthly(per_million: float, bytes_per_token: float) -> None:
    """The fixed costs, totalled, what a month with faults adds, and the organization table
    (one column per tracing choice, and one look at the dashboard)."""
    items = fixed_monthly()
    print("\nfixed monthly costs (whatever the traffic; tracing aside)\n")
    print("| item | $ a month |\n|---|---:|")
    for item, dollars in items:
        print(f"| {item} | {dollars:.2f} |")
    print(f"| **total** | **{sum(d for _, d in items):.2f}** |")
    series, dollars = event_metrics()
    print(
        f"\nA month in which every fault kind and every credential event happens adds at most "
        f"{series} metric series (+${dollars:.2f}); a series is billed only in a month it is "
        "emitted (EMF makes it on its first datapoint)."
    )
    choices = tracing_choices()
    print(
        f"\n$ a month by organization size: each calling service asks once per "
        f"{TOKEN_LIFETIME_MINUTES}-minute lifetime for {KEYS_PER_SERVICE} keys, through the "
        f"client's cache; {CREDENTIALS} VCC regions, one credential each; 30 days\n"
    )
    print(
        "| calling services | tokens served a month | "
        + " | ".join(t.name for t in choices)
        + f" | one look at the dashboard ({DASHBOARD_HOURS} h of ledger lines scanned) |"
    )
    print("|---:|---:|" + "---:|" * (len(choices) + 1))
    for services in ORGANIZATIONS:
        costs = " | ".join(f"{monthly(services, per_million, t):.2f}" for t in choices)
        view = dashboard_view(services, bytes_per_token)
        print(f"| {services:,} | {tokens_per_month(services):,.0f} | {costs} | {view:.5f} |")
