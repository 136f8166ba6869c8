"""One time-to-live cache for everything an execution environment keeps between requests: secrets
(vcc_tokens.aws.credentials), the entitlements' text (vcc_tokens.aws.entitlements), KMS data keys
(vcc_tokens.aws.sealing) and the cache entries last read (vcc_tokens.vending.cache).

A value is fresh for `max_age` seconds after it was put, by whatever clock the owner keeps (the
caller passes `now`, so a test's clock or the vendor's wall clock both work). A stale value is
still there for whoever needs a last resort (`any_age`: an outage's fallback). With
`max_entries`, the oldest put goes first.
"""

from __future__ import annotations


class TtlCache[K, V]:
    def __init__(self, max_age: float, max_entries: int | None = None) -> None:
        self.max_age = max_age
        self._max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}  # key -> (put at, value), oldest first

    def get(self, key: K, now: float) -> V | None:
        """The key's value if it was put less than `max_age` seconds before `now`."""
        found = self._entries.get(key)
        return found[1] if found is not None and now - found[0] < self.max_age else None

    def any_age(self, key: K) -> V | None:
        """The key's value however old (a last resort), if it was ever put."""
        found = self._entries.get(key)
        return found[1] if found is not None else None

    def put(self, key: K, value: V, now: float) -> None:
        self._entries.pop(key, None)  # re-put: youngest again
        self._entries[key] = (now, value)
        if self._max_entries is not None:
            while len(self._entries) > self._max_entries:
                del self._entries[next(iter(self._entries))]

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
