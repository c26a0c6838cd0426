"""Time and randomness as the scheduler reads them: injected, so a test (the
scheduler harness) drives every race by hand."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


def wall_ms() -> int:
    """Wall-clock milliseconds: the times stored and shown to users."""
    return int(time.time() * 1000)


def _no_trace(job_id: str) -> dict[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class Sources:
    """What the scheduler reads from outside, injected so a test drives it."""

    clock: Callable[[], float] = time.monotonic  # seconds: timeouts and backoffs
    wall: Callable[[], int] = wall_ms  # the times stored and shown
    rand: Callable[[], float] = random.random  # retry jitter
    # The submit's trace context for a job, carried in Assign.
    trace_context: Callable[[str], dict[str, str]] = _no_trace


REAL = Sources()  # the real clocks and randomness
