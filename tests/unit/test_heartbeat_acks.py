"""Heartbeats answered sparingly: the master's Liveness against the worker's own
Contact (the fence and give-up rules) on a fake clock, with one-way delays."""

from __future__ import annotations

import heapq
import random
from pathlib import Path

import pytest

from ffrtmp.core.timings import ack_spacing
from ffrtmp.master.scheduling.sessions import HeartbeatAckCmd
from ffrtmp.worker.contact import Contact
from tests.helpers.sched import FakeWorker, SchedHarness


def _acks(w: FakeWorker) -> list[int]:
    return [c.seq for c in w.of(HeartbeatAckCmd)]


async def _run(
    h: SchedHarness, w: FakeWorker, delay: float, seconds: float
) -> tuple[list[float], int]:
    """Heartbeats every interval (and a little: the worker's loop has its own
    cost) for `seconds`, each reaching the master up to `delay` after it is sent
    and its answer the worker up to `delay` later, at random. Returns the worker's
    silence at each of its checks (after each interval's sleep, as
    worker/session.py does) and how many heartbeats arrived; asserts that the
    fence never comes."""
    live, clock = h.scheduler.liveness, h.clock
    interval, timeout = h.config.heartbeat_interval_s, h.config.heartbeat_timeout_s
    contact = Contact()
    contact.welcomed(clock.monotonic() - 2 * delay, interval, timeout)
    events: list[tuple[float, int, str, int]] = []  # (when, order, what, seq)
    order = 0
    rand = random.Random(11)

    def at(when: float, what: str, seq: int = 0) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (when, order, what, seq))

    at(clock.monotonic(), "send")
    end = clock.monotonic() + seconds
    silences: list[float] = []
    answered = arrived = 0
    while events and events[0][0] <= end:
        when, nth, what, seq = heapq.heappop(events)
        clock.advance(when - clock.monotonic())
        now = clock.monotonic()
        if what == "send":
            if nth > 1:  # not the first send
                silences.append(contact.silence(now))
            deadline = contact.fence_deadline()
            assert deadline is not None and now < deadline, "the worker fenced itself"
            at(now + rand.uniform(0, delay), "arrive", contact.heartbeat(now))
            at(now + interval * rand.uniform(1.0, 1.01), "send")
        elif what == "arrive":
            arrived += 1
            live.touch(w.s)
            live.on_heartbeat(w.s, [], seq)
            for acked in _acks(w)[answered:]:
                at(now + rand.uniform(0, delay), "ack", acked)
            answered = len(_acks(w))
        else:
            contact.acked(seq)
    return silences, arrived


async def test_a_long_timeout_answers_one_heartbeat_in_three_or_four(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path, heartbeat_interval_s=5.0, heartbeat_timeout_s=120.0) as h:
        assert ack_spacing(5.0, 120.0) == 15.0
        w = h.worker("a")
        silences, beats = await _run(h, w, delay=0.01, seconds=600)
        acks = len(_acks(w))
        assert 119 <= beats <= 121
        assert beats / 4 - 1 <= acks <= beats / 3 + 1, (beats, acks)
        # The worker's silence never reaches timeout / 4 - interval.
        assert max(silences) < 120 / 4 - 5


@pytest.mark.parametrize(
    ("interval", "timeout", "delay"),
    [(5.0, 120.0, 0.0), (5.0, 120.0, 4.9), (1.0, 60.0, 0.5), (0.2, 4.0, 0.1), (10.0, 400.0, 9.0)],
)
async def test_a_worker_never_gives_up_on_or_fences_from_a_master_that_hears_it(
    tmp_path: Path, interval: float, timeout: float, delay: float
) -> None:
    """Whatever the spacing skips, the worker's silence stays short of the limit
    after which it gives a master up (with several masters) and of its fence."""
    async with SchedHarness(
        tmp_path, heartbeat_interval_s=interval, heartbeat_timeout_s=timeout
    ) as h:
        w = h.worker("a")
        silences, beats = await _run(h, w, delay=delay, seconds=20 * timeout)
        contact = Contact()
        contact.welcomed(0.0, interval, timeout)
        assert max(silences) < contact.stale_after()
        assert len(_acks(w)) < beats or ack_spacing(interval, timeout) == 0


async def test_a_short_timeout_answers_every_heartbeat(tmp_path: Path) -> None:
    # The defaults, 30 s and 2 min: no room to skip any.
    async with SchedHarness(tmp_path, heartbeat_interval_s=30.0, heartbeat_timeout_s=120.0) as h:
        w = h.worker("a")
        _, beats = await _run(h, w, delay=0.05, seconds=600)
        assert len(_acks(w)) == beats > 15
