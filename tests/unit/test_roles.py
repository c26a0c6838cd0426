"""Role transitions (master/leadership/roles.py): the fence term is set before a
gain's rebuild and cleared at once on a loss; the gate opens only after the
rebuild; a loss during a gain is run right after it."""

from __future__ import annotations

import asyncio

from ffrtmp.master.leadership.roles import Roles


class Record:
    def __init__(self) -> None:
        self.steps: list[str] = []
        self.fence: int | None = None
        self.release = asyncio.Event()

    async def gain(self, term: int) -> None:
        self.steps.append(f"gain {term} (fence {self.fence})")
        await self.release.wait()

    async def lose(self, reason: str) -> None:
        self.steps.append(f"lose: {reason} (fence {self.fence})")

    def set_fence(self, term: int | None) -> None:
        self.fence = term


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_gain_fences_first_and_serves_after_the_rebuild() -> None:
    r = Record()
    roles = Roles(gain=r.gain, lose=r.lose, fence=r.set_fence)
    task = asyncio.create_task(roles.run())
    try:
        roles.on_gain(3)
        await settle()
        assert r.steps == ["gain 3 (fence 3)"]
        assert not roles.serving  # rebuilding: the gate stays shut
        r.release.set()
        await settle()
        assert roles.serving and roles.term == 3
    finally:
        task.cancel()


async def test_a_loss_during_the_rebuild_refuses_writes_at_once_then_stops() -> None:
    r = Record()
    roles = Roles(gain=r.gain, lose=r.lose, fence=r.set_fence)
    task = asyncio.create_task(roles.run())
    try:
        roles.on_gain(4)
        await settle()
        roles.on_loss("lease not renewed in time")
        assert r.fence is None and not roles.serving  # before the rebuild even ends
        r.release.set()
        await settle()
        assert r.steps == ["gain 4 (fence 4)", "lose: lease not renewed in time (fence None)"]
        assert not roles.serving and roles.term is None
        roles.on_gain(6)  # leading again later: a new term, a new rebuild
        await settle()
        assert roles.serving and r.fence == 6 and r.steps[-1] == "gain 6 (fence 6)"
    finally:
        task.cancel()
