"""The worker's fencing arithmetic, reconnect spacing, and the retry rule for
attempts lost to the infrastructure: plain tables."""

from __future__ import annotations

import pytest

from ffrtmp.core.retry import LOST, Backoff, decide
from ffrtmp.worker.contact import FENCE_FRACTION, Contact, jittered, reconnect_delay


def test_fence_deadline_comes_a_margin_before_the_masters_timeout() -> None:
    c = Contact()
    c.welcomed(hello_sent=100.0, interval=0.5, timeout=4.0)
    seq = c.heartbeat(101.0)
    c.acked(seq)
    # The master heard that heartbeat at 101.0 or later, so it loses us at 105.0 at
    # the earliest; we stop at 104.0, a quarter of the timeout before.
    assert c.fence_deadline() == 101.0 + 4.0 * FENCE_FRACTION == 104.0
    assert c.fresh(103.99) and not c.fresh(104.0)
    # An old acknowledgement never moves the deadline back.
    old = c.heartbeat(100.5)
    c.acked(old)
    assert c.fence_deadline() == 104.0


def test_not_fresh_before_any_welcome() -> None:
    assert not Contact().fresh(0.0)


@pytest.mark.parametrize(
    ("previous", "timeout", "cap", "expected"),
    [
        (0.0, 120.0, 10.0, 0.1),  # first retry
        (0.1, 120.0, 10.0, 0.2),
        (8.0, 120.0, 10.0, 10.0),  # the configured cap
        (8.0, 3.0, 10.0, 0.375),  # an eighth of a short timeout: within the fence window
        (0.2, 0.1, 10.0, 0.1),  # never below the first delay
    ],
)
def test_reconnect_delay(previous: float, timeout: float, cap: float, expected: float) -> None:
    assert reconnect_delay(previous, timeout, cap) == pytest.approx(expected)


def test_jitter_only_shortens() -> None:
    assert jittered(1.0, 0.0) == 0.5 and jittered(1.0, 0.999) < 1.0


def _decide(error_class: str, attempt: int, lost: int) -> tuple[bool, str]:
    d = decide(
        attempt=attempt,
        max_retries=0,
        error_class=error_class,
        backoff=Backoff(),
        rand=0.5,
        lost_attempts=lost,
        max_lost=2,
    )
    return d.retry, d.reason


def test_lost_attempts_have_their_own_bound() -> None:
    assert _decide(LOST, 1, 1) == (True, "lost to the infrastructure, 1 of 2, not charged")
    assert _decide(LOST, 1, 2)[0]
    assert _decide(LOST, 1, 3) == (False, "lost to the infrastructure 3 times")
    # The job's own failures keep their budget (here none).
    assert _decide("transient", 1, 5) == (False, "retries exhausted after 1 attempts")


def test_a_silent_master_is_given_up_within_the_fence_window() -> None:
    from ffrtmp.worker.contact import FENCE_FRACTION, Contact

    for interval, timeout in [(30.0, 120.0), (1.0, 12.0), (0.5, 4.0), (5.0, 300.0)]:
        c = Contact()
        c.welcomed(0.0, interval, timeout)
        stale = c.stale_after()
        assert stale > interval  # one heartbeat in flight is not silence
        assert stale < timeout * FENCE_FRACTION  # time left to reach the new leader
