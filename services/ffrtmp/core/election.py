"""When a master may act as leader: the decision, without I/O.

The lease row lives in the database and expires by the database's clock, at
`now() + lease` as of the renew statement. The renew starts, by the master's own
monotonic clock, no later than that statement runs, so the row surely holds
until `renew_start + lease` in real time. The master trusts itself a margin less
than that (clock-rate drift, the time to stop its own work) and, if no renew has
succeeded by then, steps down by itself. It renews every `renew_s`, so a few
failed renews in a row are survived within one lease.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_LEASE_S = 10.0
DEFAULT_RENEW_S = 3.0


class Verdict(enum.Enum):
    LEADER = "leader"  # trusted; nothing to do yet
    RENEW = "renew"  # trusted; time to renew
    STEP_DOWN = "step_down"  # trust has run out: stop acting as leader now


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    lease_s: float = DEFAULT_LEASE_S
    renew_s: float = DEFAULT_RENEW_S
    margin_s: float | None = None  # None: a tenth of the lease, at most a second

    @property
    def margin(self) -> float:
        return min(1.0, self.lease_s / 10) if self.margin_s is None else self.margin_s

    def trusted_until(self, renew_start: float) -> float:
        """The monotonic time up to which the last successful renew (started at
        `renew_start`) lets this master act as leader."""
        return renew_start + self.lease_s - self.margin

    def problem(self) -> str | None:
        """Why these timings cannot work, in words naming the flag; None if they can."""
        if not self.lease_s >= 1.0:
            return "--lease must be at least 1s"
        if not self.renew_s > 0:
            return "--lease-renew must be more than 0s"
        if not 0 <= self.margin < self.lease_s / 2:
            return "the lease margin must be under half the lease"
        # A failed renew must leave time for another before trust runs out.
        if not 2 * self.renew_s <= self.lease_s - self.margin:
            return (
                f"--lease-renew {self.renew_s:g}s is too long for --lease {self.lease_s:g}s:"
                f" at most {(self.lease_s - self.margin) / 2:g}s (two renews within the lease)"
            )
        return None


def decide(now: float, renew_start: float, timing: LeaseTiming) -> Verdict:
    """What a leader whose last successful renew started at `renew_start` does at `now`."""
    if now >= timing.trusted_until(renew_start):
        return Verdict.STEP_DOWN
    if now >= renew_start + timing.renew_s:
        return Verdict.RENEW
    return Verdict.LEADER


def next_check(now: float, renew_start: float, timing: LeaseTiming) -> float:
    """Seconds until the verdict can next change (0: act now)."""
    due = min(renew_start + timing.renew_s, timing.trusted_until(renew_start))
    return max(0.0, due - now)


def renew_budget(now: float, renew_start: float, timing: LeaseTiming) -> float:
    """How long a renew started at `now` may take: past the end of trust its
    answer is useless, since the leader has stepped down by then."""
    return max(0.0, timing.trusted_until(renew_start) - now)
