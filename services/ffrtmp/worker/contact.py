"""When the master last heard this worker, as far as the worker can prove it,
and so when the worker must fence itself.

The master answers every heartbeat with its sequence number. Let t be the send
time, on this worker's monotonic clock, of the last heartbeat acknowledged. The
master received it after t, so it cannot declare this worker lost before
t + timeout by its own clock. The worker kills its runs at t + 0.75 * timeout:
a quarter of the timeout is the margin for scheduling delays and clock-rate
drift. Only durations are compared, never two clocks' readings.
"""

from __future__ import annotations

from ffrtmp.core.timings import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S

FENCE_FRACTION = 0.75
KEEP_SENT = 64


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
