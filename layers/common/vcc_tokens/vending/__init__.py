"""The vending engine, one rule per module, in the order one GET visits them:

    vendor.py         vend / refresh / the refresher's entry points, top to bottom
    cache.py          the token cache: this environment's memory, then the table (DynamoDB)
    freshness.py      when a token will do (usable) and when to renew it (the margin)
    renewals.py       renewal ahead of expiry, handed over to the refresher, or scheduled
    single_flight.py  who may fetch: the key's lease, waiting for its holder, failure memory
    minting.py        a new token from VCC, aware of secret rotation
    fallback.py       what to serve when something fails: one rule for every failure kind
    outcome.py        what a request got (CacheOutcome, Source, Vend)

The domain's values (Key, CachedToken, CacheEntry, Lease) are in vcc_tokens.values.tokens.
"""

from vcc_tokens.vending.cache import MemoryCache
from vcc_tokens.vending.outcome import CacheOutcome, Source, Vend
from vcc_tokens.vending.renewals import RenewalReport
from vcc_tokens.vending.vendor import TokenVendor

__all__ = ["CacheOutcome", "MemoryCache", "RenewalReport", "Source", "TokenVendor", "Vend"]
