"""The election loop (master/leadership/elector.py) against the in-memory lease
row: one leader at a time, terms that grow, a leader cut from the database steps
down before its row expires, a clean stop hands over at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from ffrtmp.core.election import LeaseTiming
from ffrtmp.master.leadership.elector import Elector
from ffrtmp.master.observe.leader_metrics import LeaderMetrics
from tests.helpers.memlease import MemLeaseBackend, MemLeaseDb

TIMING = LeaseTiming(lease_s=1.0, renew_s=0.3)  # margin 0.1 s


@dataclass
class Member:
    name: str
    backend: MemLeaseBackend
    elector: Elector
    events: list[tuple[str, float, int | str]] = field(default_factory=list)
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)

    def gains(self) -> list[int]:
        return [int(v) for kind, _, v in self.events if kind == "gain"]


def member(db: MemLeaseDb, name: str) -> Member:
    registry = CollectorRegistry()
    backend = db.backend()
    m: Member
    elector = Elector(
        backend,
        holder=name,
        address=f"{name}:50051",
        timing=TIMING,
        metrics=LeaderMetrics(registry),
        on_gain=lambda term: m.events.append(("gain", time.monotonic(), term)),
        on_loss=lambda why: m.events.append(("loss", time.monotonic(), why)),
    )
    m = Member(name, backend, elector, metrics=registry)
    return m


@asynccontextmanager
async def running(*members: Member) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(m.elector.run()) for m in members]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def leaders(*members: Member) -> list[str]:
    return [m.name for m in members if m.elector.leading]


async def test_one_leader_among_three_and_it_keeps_renewing() -> None:
    db = MemLeaseDb()
    ms = [member(db, n) for n in ("a", "b", "c")]
    async with running(*ms):
        await until(lambda: leaders(*ms))
        first = leaders(*ms)
        for _ in range(15):  # one and a half leases: always exactly the same one
            await asyncio.sleep(0.1)
            assert leaders(*ms) == first
    assert db.renews >= 3
    assert sum(len(m.gains()) for m in ms) == 1
    standby = next(m for m in ms if not m.gains())
    assert standby.elector.leader_address == f"{first[0]}:50051"


async def test_a_leader_cut_from_the_database_steps_down_before_its_row_expires() -> None:
    db = MemLeaseDb()
    a, b = member(db, "a"), member(db, "b")
    async with running(a):
        await until(lambda: a.elector.leading)
    async with running(a, b):
        a.backend.down = True
        await until(lambda: not a.elector.leading)
        stepped_down = time.monotonic()
        assert db.row is not None and db.row.holder == "a"
        # Safety: the deposed leader stopped trusting itself while its row still held.
        assert stepped_down < db.row.expires
        await until(lambda: b.elector.leading)
        assert b.gains() == [2]
        took = b.events[0][1] - stepped_down
        assert took < TIMING.lease_s + 0.5
        a.backend.down = False
        await asyncio.sleep(0.5)
        assert leaders(a, b) == ["b"]  # the old leader stays a standby
    assert a.events[-1][0] == "loss"


async def test_a_renew_that_hangs_does_not_keep_a_leader_past_its_trust() -> None:
    db = MemLeaseDb()
    a = member(db, "a")
    async with running(a):
        await until(lambda: a.elector.leading)
        renewed = a.elector.renewed_at
        a.backend.hang = True
        await until(lambda: not a.elector.leading)
        assert time.monotonic() <= TIMING.trusted_until(a.elector.renewed_at) + 0.2
        assert a.elector.renewed_at >= renewed
    assert a.events[-1][2] == "lease not renewed in time"


async def test_a_clean_stop_hands_the_lease_over_at_once() -> None:
    db = MemLeaseDb()
    a, b = member(db, "a"), member(db, "b")
    async with running(a):
        await until(lambda: a.elector.leading)
        assert not a.backend.db.row or a.backend.db.row.holder == "a"
    async with running(b):
        await asyncio.sleep(0.05)
        assert not b.elector.leading  # a's lease still holds after a stopped
    await a.elector.release()
    start = time.monotonic()
    async with running(b):
        await until(lambda: b.elector.leading)
        assert time.monotonic() - start < TIMING.lease_s / 2
    assert b.gains() == [2]


async def test_a_deposed_leader_whose_row_was_taken_learns_it_at_its_next_renew() -> None:
    db = MemLeaseDb()
    a = member(db, "a")
    async with running(a):
        await until(lambda: a.elector.leading)
        assert db.row is not None
        db.row.holder, db.row.term = "intruder", 99  # taken meanwhile
        await until(lambda: not a.elector.leading)
    assert a.events[-1][2] == "another master holds the lease"
    loss = a.metrics.get_sample_value("ffrtmp_master_step_downs_total", {"reason": "lost"})
    assert loss == 1.0
    assert a.metrics.get_sample_value("ffrtmp_master_takeovers_total") == 1.0


async def test_an_acquire_whose_answer_was_lost_is_adopted_not_waited_out() -> None:
    db = MemLeaseDb()
    a, b = member(db, "a"), member(db, "b")
    # An acquire that committed, its answer lost: the row names a, a does not know.
    term = await a.backend.acquire("a", "a:50051", TIMING.lease_s)
    assert term == 1
    async with running(a, b):
        took = time.monotonic()
        await until(lambda: a.elector.leading)
        assert time.monotonic() - took < TIMING.lease_s / 2
    assert a.gains() == [1] and b.gains() == []
