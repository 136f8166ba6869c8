"""Which caller may obtain which (region, scope): the rules (vcc_token_contract.entitlements)
are a JSON document in an SSM parameter, read at most once per ENTITLEMENTS_MAX_AGE and
validated; a document that does not validate refuses everything (fails closed).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from vcc_token_contract.entitlements import (
    Entitlements,
    InvalidEntitlements,
    parse_entitlements,
)
from vcc_token_contract.ledger import Field
from vcc_token_contract.metrics import Metric
from vcc_tokens.aws.clients import calling
from vcc_tokens.observability import MetricUnit, logger, metrics
from vcc_tokens.values.errors import (
    DependencyError,
    DependencyUnavailable,
    EntitlementsUnavailable,
    Forbidden,
)
from vcc_tokens.values.ttl_cache import TtlCache

NO_RULES = Entitlements(())  # what a missing parameter holds: nothing is allowed


class EntitlementStore(ABC):
    @abstractmethod
    def get(self) -> Entitlements:
        """The current rules, or EntitlementsUnavailable (everything is refused)."""


class SsmEntitlementStore(EntitlementStore):
    """The parameter's text is read at most once per `max_age` seconds; the parsed rules are
    kept until that text changes, so a request does not validate the document again.

    Fails closed: a missing parameter is no rule at all, so every caller is refused with 403
    `forbidden` (deny by default), logged and counted (`EntitlementsStale`: no current rules);
    a document that does not validate, or a parameter the function may not read, refuses
    everything at once (500 `entitlements_unavailable`: an operator must fix it). Only a
    transient SSM fault (throttling, 5xx, unreachable) keeps the rules last read for up to
    `grace_seconds`, logged and counted (`EntitlementsStale`), so a blip does not deny every
    caller; after that, 503 `dependency_unavailable`."""

    def __init__(
        self,
        ssm: Any,  # a botocore SSM client
        parameter: str,
        max_age: int,
        grace_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ssm = ssm
        self._text: TtlCache[str, str] = TtlCache(max_age)  # the parameter's text
        self._parameter = parameter
        self._grace = grace_seconds
        self._clock = clock
        self._parsed: tuple[str, Entitlements] | None = None
        self._read_at = 0.0  # when the rules were last read (from SSM or Powertools' cache)

    def get(self) -> Entitlements:
        try:
            raw = self._read()
        except DependencyUnavailable as error:  # transient, or no time left in this request
            return self._within_grace(error)
        except DependencyError as error:  # missing or denied: fail closed
            if error.aws_code == "ParameterNotFound":
                return self._missing()
            raise self._unavailable(error.message) from None
        try:
            if self._parsed is None or self._parsed[0] != raw:
                self._parsed = (raw, parse_entitlements(raw))
        except InvalidEntitlements as problem:
            self._parsed = None
            raise self._unavailable(str(problem)) from None
        self._read_at = self._clock()
        return self._parsed[1]

    def _read(self) -> str:
        """The parameter's text: from SSM, or as read within the last `max_age` seconds."""
        now = self._clock()
        text = self._text.get(self._parameter, now)
        if text is None:
            with calling("SSM", self._parameter):
                answer = self._ssm.get_parameter(Name=self._parameter)
            text = str(answer["Parameter"]["Value"])
            self._text.put(self._parameter, text, now)
        return text

    def _within_grace(self, error: DependencyUnavailable) -> Entitlements:
        age = self._clock() - self._read_at
        if self._parsed is None or age > self._grace:
            raise error
        metrics.add_metric(name=Metric.ENTITLEMENTS_STALE, unit=MetricUnit.Count, value=1)
        logger.warning(
            "SSM unavailable; using the entitlements last read",
            extra={"parameter": self._parameter, "age_seconds": round(age), "grace": self._grace},
        )
        return self._parsed[1]

    def _missing(self) -> Entitlements:
        """No parameter, no rule: every caller is refused (403) until it is created."""
        metrics.add_metric(name=Metric.ENTITLEMENTS_STALE, unit=MetricUnit.Count, value=1)
        logger.error(
            "entitlements parameter missing: every caller is refused (403) until it is created",
            extra={"parameter": self._parameter},
        )
        return NO_RULES

    def _unavailable(self, problem: str) -> EntitlementsUnavailable:
        logger.error(
            "entitlements unavailable: every token is refused until they are fixed",
            extra={"parameter": self._parameter, "problem": problem},
        )
        return EntitlementsUnavailable(
            f"the entitlements in {self._parameter!r} are unavailable ({problem}); "
            f"every token is refused until they are fixed"
        )


def authorize(
    entitlements: Entitlements, principal_arn: str | None, region: str, scope: str
) -> None:
    """Record the decision on the request's one log line (the audit trail: caller, region,
    scope, `entitled`); raise Forbidden unless a rule allows it."""
    allowed = entitlements.allows(principal_arn, region, scope)
    logger.append_keys(
        **{Field.CALLER: principal_arn, Field.REGION: region, Field.SCOPE: scope}, entitled=allowed
    )
    if not allowed:
        raise Forbidden(f"caller may not obtain scope {scope!r} in region {region!r}")
