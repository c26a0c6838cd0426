"""Retry decisions after a failed attempt: pure, with randomness passed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base_s: float = 5.0
    factor: float = 2.0
    cap_s: float = 300.0
    jitter: float = 0.2  # ± this fraction

    def delay(self, failures: int, rand: float) -> float:
        """Delay before retry number `failures` (1-based); `rand` is uniform in [0, 1)."""
        raw = min(self.cap_s, self.base_s * self.factor ** max(0, failures - 1))
        return max(0.0, raw * (1 + self.jitter * (2 * rand - 1)))


@dataclass(frozen=True, slots=True)
class Decision:
    retry: bool
    delay_s: float
    reason: str


def decide(
    *,
    attempt: int,
    max_retries: int,
    error_class: str,
    backoff: Backoff,
    rand: float,
    immediate: bool = False,
) -> Decision:
    """`attempt` is the 1-based attempt that just failed.

    Only transient failures are retried, and at most `max_retries` times. A lost
    node counts as an attempt too, so a job that kills every worker still ends.
    """
    if error_class != "transient":
        return Decision(False, 0.0, "permanent failure")
    if attempt > max_retries:
        return Decision(False, 0.0, f"retries exhausted after {attempt} attempts")
    delay = 0.0 if immediate else backoff.delay(attempt, rand)
    return Decision(True, delay, f"transient failure, retry {attempt} of {max_retries}")
