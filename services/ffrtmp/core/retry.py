"""Retry decisions after a failed attempt: pure, with randomness passed in."""

from __future__ import annotations

from dataclasses import dataclass

from ffrtmp.core.failures import repeat_key

# The failure class of an attempt lost to the infrastructure: its worker was lost,
# fenced itself, or no longer holds the lease. Not the job's fault, so not charged
# to max_retries; bounded apart, so a job that keeps killing workers still ends.
LOST = "lost"


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
    error: str = "",
    previous_error: str = "",
    lost_attempts: int = 0,
    max_lost: int = 10,
) -> Decision:
    """`attempt` is the 1-based attempt that just failed, counting only those
    charged to the job; `previous_error` is what ended the attempt before it (""
    for the first); `lost_attempts` counts those lost to the infrastructure (this
    one included).

    Only transient failures are retried, and at most `max_retries` times; an
    attempt lost to the infrastructure is retried at once, at most `max_lost`
    times. A cause that says the far end is missing ends the job when it repeats.
    """
    if error_class == LOST:
        if lost_attempts > max_lost:
            return Decision(False, 0.0, f"lost to the infrastructure {lost_attempts} times")
        return Decision(
            True, 0.0, f"lost to the infrastructure, {lost_attempts} of {max_lost}, not charged"
        )
    if error_class != "transient":
        return Decision(False, 0.0, "permanent failure")
    key = repeat_key(error)
    if key is not None and key == repeat_key(previous_error):
        return Decision(False, 0.0, f"{key} twice in a row, not retried again")
    if attempt > max_retries:
        return Decision(False, 0.0, f"retries exhausted after {attempt} attempts")
    delay = 0.0 if immediate else backoff.delay(attempt, rand)
    return Decision(True, delay, f"transient failure, retry {attempt} of {max_retries}")
