"""Token buckets per identity: pure, with time passed in."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate` requests per second on average, bursts of up to `burst`.

    Remembers the most recently active `max_keys` identities; a forgotten one
    starts again with a full bucket, so memory stays bounded however many
    identities call.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        """Like take(), but nothing is taken: the seconds until a token is there."""
        b = self._buckets.get(key)
        if self.rate <= 0 or b is None:
            return 0.0
        tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def take(self, key: str, now: float) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        if self.rate <= 0:
            return 0.0
        b = self._buckets.get(key)
        if b is None:
            b = self._buckets[key] = Bucket(self.burst, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
            b.at = now
        if b.tokens >= 1:
            b.tokens -= 1
            return 0.0
        return (1 - b.tokens) / self.rate
