"""Default liveness timings, shared by the master (which decides them) and the worker
(which needs a value before the master's Welcome tells it the real one)."""

from __future__ import annotations

HEARTBEAT_INTERVAL_S = 30.0
HEARTBEAT_TIMEOUT_S = 120.0

# The worker gives up a silent master after max(2 * interval + 0.5 s, timeout / 4)
# without an acknowledged heartbeat (worker/contact.py, with several masters) and
# fences itself at 0.75 * timeout after sending the last acknowledged one. If the
# master answers the first heartbeat that arrives `spacing` after its last answer,
# the worker's silence is at most spacing + one interval + a round trip. With
# spacing = timeout / 4 - 3 * interval that is timeout / 4 - 2 * interval + a round
# trip: short of the first limit while the round trip stays under two intervals,
# and far from the fence. The master loses a worker by when it last heard
# anything, acknowledged or not, so fewer answers can only bring a fence earlier.
ACK_SPACING_INTERVALS = 3


def ack_spacing(interval_s: float, timeout_s: float) -> float:
    """How long the master may leave heartbeats unanswered after answering one:
    0 (answer every one) unless the timeout is long next to the interval."""
    return max(0.0, timeout_s / 4 - ACK_SPACING_INTERVALS * interval_s)
