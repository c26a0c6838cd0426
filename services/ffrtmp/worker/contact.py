"""When the master last heard this worker, as far as the worker can prove it,
and so when the worker must fence itself.

The master answers every heartbeat with its sequence number. Let t be the send
time, on this worker's monotonic clock, of the last heartbeat acknowledged. The
master received it after t, so it cannot declare this worker lost before
t + timeout by its own clock. The worker kills its runs at t + 0.75 * timeout:
a quarter of the timeout is the margin for scheduling delays and clock-rate
drift. Only durations are compared, never two clocks' readings.

The same deadline rules the launcher of every run (it kills ffmpeg by itself
when a renewal is late) and whether an Assign may start at all. Reconnects are
spaced by at most RECONNECT_FRACTION of the timeout, so a restarted master is
reached well within the fence window.
"""

from __future__ import annotations

import random

from ffrtmp.core.timings import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S

FENCE_FRACTION = 0.75
RECONNECT_FRACTION = 0.125
FIRST_RECONNECT_S = 0.1
KEEP_SENT = 64


def reconnect_delay(previous: float, timeout: float, cap: float) -> float:
    """The next wait before reconnecting: doubling from FIRST_RECONNECT_S, capped by
    `cap` and by a fraction of the heartbeat timeout."""
    limit = min(cap, max(FIRST_RECONNECT_S, timeout * RECONNECT_FRACTION))
    return min(limit, max(FIRST_RECONNECT_S, previous * 2))


def jittered(delay: float, rand: float | None = None) -> float:
    """Down by up to half, so workers do not all come back at the same instant."""
    return delay * (0.5 + (random.random() if rand is None else rand) / 2)


class Contact:
    def __init__(self) -> None:
        self.interval = HEARTBEAT_INTERVAL_S
        self.timeout = HEARTBEAT_TIMEOUT_S
        self.last: float | None = None  # send time of the last acknowledged message
        self._seq = 0
        self._sent: dict[int, float] = {}

    def welcomed(self, hello_sent: float, interval: float, timeout: float) -> None:
        self.interval = max(0.05, interval)
        self.timeout = max(self.interval, timeout)
        self.last = hello_sent  # the Welcome acknowledges the Hello

    def heartbeat(self, now: float) -> int:
        """The sequence number of a heartbeat sent now."""
        self._seq += 1
        self._sent[self._seq] = now
        if len(self._sent) > KEEP_SENT:
            self._sent.pop(min(self._sent))
        return self._seq

    def acked(self, seq: int) -> None:
        sent = self._sent.pop(seq, None)
        if sent is not None:
            self.last = max(self.last or 0.0, sent)

    def fence_deadline(self) -> float | None:
        if self.last is None:
            return None
        return self.last + self.timeout * FENCE_FRACTION

    def fresh(self, now: float) -> bool:
        """A lease may run now: the master cannot have declared us lost."""
        deadline = self.fence_deadline()
        return deadline is not None and now < deadline

    def stale_after(self) -> float:
        """With several masters, the silence after which a stream is given up and
        another master tried: a master frozen (SIGSTOP, swap) keeps its TCP
        connection open, and this worker must reach the new leader well within its
        fence deadline. Two heartbeats unanswered, and at least a quarter of the
        timeout. (With one master there is no other to try: keepalives decide.)"""
        return max(2 * self.interval + 0.5, self.timeout / 4)

    def silence(self, now: float) -> float:
        return now - (self.last if self.last is not None else now)
