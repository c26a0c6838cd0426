"""What the master holds for each connected worker stays small: a fleet of
10,000 idle workers is budgeted at ≤ 1 GiB, most of which grpc and TLS take
(see docs/PERFORMANCE.md, (f)). The outbox and the session are measured with
tracemalloc; equal capabilities are shared, not copied per worker."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path

import pytest

from ffrtmp.master.scheduling.outbox import Outbox
from ffrtmp.master.scheduling.sessions import HeartbeatAckCmd, NodeSession
from tests.helpers.sched import SchedHarness

N = 2_000


def _bytes_each(make: object) -> float:
    assert callable(make)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [make(i) for i in range(N)]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(kept) == N
    return (after - before) / N


def test_an_idle_session_with_its_outbox_stays_under_half_a_kib() -> None:
    # An asyncio.Queue alone was ≈ 2.5 KiB (four deques); the session about 0.3.
    each = _bytes_each(lambda i: NodeSession(f"n{i}", {}, 1))
    assert each < 512, f"{each:.0f} bytes a session"


async def test_the_outbox_is_first_in_first_out_and_wakes_its_reader() -> None:
    box: Outbox[int | None] = Outbox()
    reader = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    assert not reader.done()
    box.put_nowait(1)
    box.put_nowait(2)
    assert await reader == 1
    assert box.qsize() == 1 and not box.empty()
    assert await box.get() == 2
    assert box.empty() and box.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        box.get_nowait()


async def test_a_cancelled_wait_leaves_the_outbox_usable() -> None:
    box: Outbox[HeartbeatAckCmd | None] = Outbox()
    waiting = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    box.put_nowait(None)
    assert await asyncio.wait_for(box.get(), 1) is None


async def test_workers_alike_share_one_capabilities_dict(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a, b = h.worker("a").connect(), h.worker("b").connect()
        c = h.worker("c").connect(encoders=("libx265",))
        assert a.s.capabilities == b.s.capabilities
        assert a.s.capabilities is b.s.capabilities
        assert c.s.capabilities is not a.s.capabilities
        assert c.s.capabilities["encoders"] == ["libx265"]
