"""The vending function's health log: the refresher's records, at most one write per
credential and kind per interval, so a burst of refused requests costs one write."""

from __future__ import annotations

from vcc_tokens.aws.health import HealthLog, ThrottledHealthLog


class Recorded(HealthLog):
    def __init__(self) -> None:
        self.writes: list[tuple[str, ...]] = []

    def granted(self, region: str, credential: str, at: float) -> None:
        self.writes.append(("grant", region, credential))

    def rejected(self, region: str, credential: str, code: str, at: float) -> None:
        self.writes.append(("rejection", region, credential, code))

    def rotated(
        self, region: str, credential: str, outcome: str, at: float, version: str = ""
    ) -> None:
        self.writes.append(("rotation", region, credential, outcome))


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_write_per_credential_and_kind_per_interval() -> None:
    inner, clock = Recorded(), Clock()
    log = ThrottledHealthLog(inner, interval=300, clock=clock)
    for _ in range(5):  # a burst of refused requests, and grants, of two credentials
        log.rejected("nam", "default", "invalid_client", clock.now)
        log.granted("nam", "default", clock.now)
        log.rejected("emea", "default", "invalid_client", clock.now)
        clock.now += 10
    assert inner.writes == [
        ("rejection", "nam", "default", "invalid_client"),
        ("grant", "nam", "default"),
        ("rejection", "emea", "default", "invalid_client"),
    ]
    clock.now = 1000.0 + 299.9
    log.rejected("nam", "default", "invalid_client", clock.now)
    assert len(inner.writes) == 3  # still within the interval
    clock.now = 1000.0 + 300
    log.rejected("nam", "default", "invalid_scope", clock.now)
    assert inner.writes[-1] == ("rejection", "nam", "default", "invalid_scope")
