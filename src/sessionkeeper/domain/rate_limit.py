"""Per-key rate limits as a token bucket: the pure rule.

A key's bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; each
request takes one. A request that finds less than one token is refused and told how long until
there is one. The bucket's time never moves backward, so processes whose clocks differ a
little (several hosts sharing one bucket in Redis) can only refill it more slowly, never
faster. ``services/rate_limits.py`` keeps buckets in the process, or in Redis, where a script
carries out this same rule atomically (and is tested against it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at_ms: int


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # tokens a second
    burst: float  # the most a bucket holds: requests a key may send at once

    @property
    def refill_ms(self) -> int:
        """How long an emptied bucket takes to fill up again (how long to keep it)."""
        return int(self.burst / self.rate * 1000) + 1


def take(bucket: Bucket | None, now_ms: int, limit: Limit) -> tuple[Bucket, float]:
    """Take one token for a request at ``now_ms``: the bucket afterwards, and 0 when the
    request may go on, otherwise the seconds until a token is back (nothing is taken)."""
    if bucket is None:
        bucket = Bucket(tokens=limit.burst, at_ms=now_ms)
    at = max(bucket.at_ms, now_ms)
    tokens = min(limit.burst, bucket.tokens + (at - bucket.at_ms) / 1000 * limit.rate)
    if tokens >= 1:
        return Bucket(tokens=tokens - 1, at_ms=at), 0.0
    return Bucket(tokens=tokens, at_ms=at), (1 - tokens) / limit.rate
