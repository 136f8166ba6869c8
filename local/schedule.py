"""The refresher's schedule on one machine: a run at start, then one per period, each
asynchronous (retried, then dead-lettered) as EventBridge and Lambda run it."""

from __future__ import annotations

import json
import threading
from typing import Any

from local.stack import ROOT, DeadLetters, invoke_async


class Schedule:
    """Invokes a function every `period` seconds, as EventBridge Scheduler would. The first
    `failing_runs` runs fail as a whole (LOCAL_FAILING_RUNS: the dead-letter rehearsal), each
    retried twice and then dead-lettered, as Lambda does with a failed asynchronous run."""

    def __init__(
        self,
        handler: Any,
        period: float,
        lock: threading.Lock,
        dead_letters: DeadLetters,
        failing_runs: int = 0,
    ) -> None:
        self._handler = handler
        self._failing_runs = failing_runs
        self._dead_letters = dead_letters
        self._period = period
        self._lock = lock
        self._stopped = threading.Event()
        self._event = json.loads((ROOT / "events" / "scheduled_renewal.json").read_text())
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Schedule:
        """One run now (a deployed schedule has run within its first period), then one per
        period."""
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        self._invoke()
        while not self._stopped.wait(self._period):
            self._invoke()

    def _invoke(self) -> None:
        handler = self._handler
        if self._failing_runs > 0:
            self._failing_runs -= 1
            handler = _failing_run
        with self._lock:  # asynchronously, as the schedule invokes: retried, then dead-lettered
            invoke_async(handler, self._event, self._dead_letters, "schedule")


def _failing_run(event: dict[str, Any], context: Any) -> None:
    raise RuntimeError("a scheduled run made to fail by LOCAL_FAILING_RUNS (the rehearsal)")
