"""What a master does when it gains or loses the lead.

Gaining: a new scheduler rebuilds the heaps, the lease map and the node table
from the database — the path a restarted master takes — so every worker known
to have held a lease gets one heartbeat timeout to reconnect and re-offer it
(its Hello lists what it runs) before it is declared lost; dispatch starts at
once for the rest. Losing: dispatch and the timers stop, every worker stream
and watch is closed (the workers keep their runs and look for the leader), and
the health of the leader's services turns NOT_SERVING. The store's fence term
is set and cleared by roles.py, before these run."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ffrtmp.master.observe.health import MasterHealth
from ffrtmp.master.scheduling.scheduler import Scheduler

log = logging.getLogger("ffrtmp.master.leadership")


class Uses(Protocol):
    """A part that serves from the current scheduler (servicers, the queue gauges)."""

    def use(self, scheduler: Scheduler) -> None: ...


class LeaderWork:
    def __init__(
        self,
        scheduler: Scheduler,
        make: Callable[[], Scheduler],
        users: Sequence[Uses],
        health: MasterHealth,
        refresh: Callable[[], Awaitable[None]],
    ) -> None:
        self.scheduler = scheduler  # the current one (a standby's is never started)
        self.make = make
        self.users = users
        self.health = health
        self.refresh = refresh  # what a standby may hold stale (API keys), read again
        self.resign: Callable[[str], None] = lambda reason: None  # set by the election
        self._watch: asyncio.Task[None] | None = None

    async def gain(self, term: int) -> None:
        await self.refresh()
        scheduler = self.make()
        for user in self.users:
            user.use(scheduler)
        self.scheduler = scheduler
        await scheduler.start()
        self._watch = asyncio.create_task(self._watched(scheduler), name="leader-work")
        await self.health.role_changed()

    async def _watched(self, scheduler: Scheduler) -> None:
        """A part of the leader's work died (the store refused a write: deposed, or
        the database is down): resign rather than lead without it. The next term
        rebuilds everything from the database."""
        await scheduler.failed()
        log.error("a task of the scheduler failed; resigning")
        self.resign("a task of the scheduler failed")

    async def lose(self, reason: str) -> None:
        if self._watch is not None:
            self._watch.cancel()
        st = self.scheduler.st
        self.scheduler.stop_intake()
        st.feed.close()  # watch streams end: their clients go to the leader
        # Worker streams first, before anything that may wait on the database (a
        # cut-off store can hold a stop for long): the workers go to the leader now.
        for s in st.nodes.values():
            if s.connected:
                s.outbox.put_nowait(None)
        await self.health.role_changed()
        await self.scheduler.stop()
        log.info("stopped dispatching; worker streams closed")
