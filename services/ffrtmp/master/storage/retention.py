"""Retention: terminal jobs and their events older than `--retention` are
deleted, a few hundred per transaction, so that submits and results never wait
behind one long delete. After a sweep that deleted something, the store
reclaims the space as its database needs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ffrtmp.lifecycle import Service
from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.storage.protocol import JobStore, StoreClosed, StoreError

log = logging.getLogger(__name__)

BATCH = 500


class Retention(Service):
    """A Service: start() begins the sweeps (none when `keep_s` is 0)."""

    def __init__(
        self,
        store: JobStore,
        metrics: MasterMetrics,
        *,
        keep_s: float,
        interval_s: float,
        wall: Callable[[], float] = time.time,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__("retention", log)
        self.leading = leading  # only the leader deletes (a standby's writes are refused)
        self.store = store
        self.metrics = metrics
        self.keep_s = keep_s
        self.interval_s = interval_s
        self.wall = wall

    async def sweep(self) -> int:
        """One pass; returns how many jobs were deleted."""
        cutoff_ms = int((self.wall() - self.keep_s) * 1000)
        total = 0
        while (n := await self.store.delete_finished(cutoff_ms, BATCH)) > 0:
            total += n
            self.metrics.retention_deleted.inc(n)
            await asyncio.sleep(0)  # let waiting writes into the next batch
        if total:
            freed = await self.store.reclaim()
            log.info(
                "retention: deleted %d jobs older than %.0fs, freed %d pages",
                total,
                self.keep_s,
                freed,
            )
        return total

    async def start(self) -> None:
        if self.keep_s > 0:
            self.background.start(self.run(), "retention")

    async def run(self) -> None:
        while True:
            try:
                if self.leading():
                    await self.sweep()
            except StoreClosed:
                return  # the master is stopping
            except StoreError as exc:  # a busy or full disk: try again next time
                log.error("retention sweep failed: %s", exc)
            await asyncio.sleep(self.interval_s)
