"""Every CloudWatch metric series the service's code can emit, from the metric names' one home
(vcc_token_contract.metrics) and the kinds the code counts them by: what the dashboard may show
(tests/unit/test_dashboard.py) and what CloudWatch bills per metric a month (make bench)."""

from __future__ import annotations

from vcc_token_contract.metrics import PER_CREDENTIAL, Metric, by_kind


def per_credential_names() -> set[str]:
    """Metrics with the credential as a dimension: one series per credential."""
    return {str(metric) for metric in PER_CREDENTIAL}


def emitted_names() -> set[str]:
    """Every metric name the code emits (one series each, but for per_credential_names)."""
    from vcc_tokens.aws.clients import SERVICES
    from vcc_tokens.values.errors import upstream_error_kinds

    names = {str(metric) for metric in Metric}
    names |= {by_kind(Metric.UPSTREAM_ERRORS, kind) for kind in upstream_error_kinds()}
    names |= {by_kind(Metric.DEPENDENCY_FAULTS, service) for service in SERVICES}
    return names
