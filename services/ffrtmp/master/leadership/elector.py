"""The election loop: campaign while standby, renew while leader, step down by
itself when trust runs out (core/election.py decides; this module only waits and
calls the database).

Elections use the database's clock (the lease row expires at its `now()` plus the
lease); the leader's own trust uses its monotonic clock only. A standby that
reads an unexpired lease sleeps until the database says it expires (never longer
than the renew interval), so a dead leader is replaced about one lease after its
last renew. Gaining and losing the lead are reported through two callbacks that
must not block: the master runs the transitions as tasks of its own, so a slow
heap rebuild never delays a renew.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from ffrtmp.core.election import LeaseTiming, Verdict, decide, next_check, renew_budget
from ffrtmp.master.leadership.backend import LeaderInfo, LeaseBackend
from ffrtmp.master.observe.leader_metrics import LeaderMetrics

log = logging.getLogger("ffrtmp.master.leadership")

RETRY_S = 0.25  # between renews that failed, while trust lasts
AFTER_EXPIRY_S = 0.05  # a standby tries this long after the lease it read expires


class Elector:
    def __init__(
        self,
        backend: LeaseBackend,
        *,
        holder: str,
        address: str,
        timing: LeaseTiming,
        metrics: LeaderMetrics,
        on_gain: Callable[[int], None],
        on_loss: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.backend = backend
        self.holder = holder
        self.address = address
        self.timing = timing
        self.metrics = metrics
        self.on_gain = on_gain
        self.on_loss = on_loss
        self.clock = clock
        self.rand = rand
        self.term: int | None = None
        self.renewed_at = 0.0  # monotonic start of the last successful renew
        self.leader: LeaderInfo | None = None  # as last read, for hints and status
        self._other_seen = clock()  # when another leader was last seen alive
        self._stopped_term: int | None = None  # held when run() was stopped
        self._read_at = 0.0  # when `leader` was read

    @property
    def leading(self) -> bool:
        return self.term is not None

    @property
    def leader_address(self) -> str:
        """Where the leader is, as far as this master knows ("" when unknown)."""
        if self.leading:
            return self.address
        info = self.leader
        # A lease seen expired (its holder died or was cut off) names no one.
        if info is None or self.clock() - self._read_at >= info.remaining_s:
            return ""
        return info.address

    async def run(self) -> None:
        try:
            while True:
                if self.term is None:
                    await self._campaign()
                else:
                    await self._hold()
        finally:
            if self.term is not None:
                self._stopped_term = self.term
                self._lose("stopping", "the master is stopping")

    async def release(self) -> None:
        """After run() has ended on a clean stop: give the lease back, so a
        standby takes over at once rather than after the lease."""
        term, self._stopped_term = self._stopped_term, None
        if term is None:
            return
        try:
            async with asyncio.timeout(self.timing.renew_s):
                await self.backend.release(self.holder, term)
        except Exception as exc:  # it expires by itself
            log.warning("could not release the lease (it expires by itself): %s", exc)

    async def _campaign(self) -> None:
        start = self.clock()
        term: int | None = None
        try:
            async with asyncio.timeout(self.timing.renew_s):
                await self.backend.heartbeat(self.holder, self.address)
                term = await self.backend.acquire(self.holder, self.address, self.timing.lease_s)
                if term is None:
                    self.leader = await self.backend.current()
                    self._read_at = self.clock()
                    term = await self._adopt(start)
        except Exception as exc:
            log.warning("election: the database did not answer: %s", exc or type(exc).__name__)
            self.leader = None
            await asyncio.sleep(self.timing.renew_s * (0.5 + self.rand() / 2))
            return
        if term is not None:
            self.term, self.renewed_at = term, start
            self.leader = None
            took = start - self._other_seen
            self.metrics.is_leader.set(1)
            self.metrics.term.set(term)
            self.metrics.takeovers.inc()
            self.metrics.takeover_seconds.observe(max(0.0, took))
            log.warning("leader now, term %d (%.2fs after the last leader was seen)", term, took)
            self.on_gain(term)
            return
        wait = self.timing.renew_s
        if self.leader is not None and self.leader.holder != self.holder:
            self._other_seen = self.clock()
            if self.leader.remaining_s > 0:
                wait = min(wait, self.leader.remaining_s + AFTER_EXPIRY_S)
            else:
                wait = AFTER_EXPIRY_S
        await asyncio.sleep(wait)

    async def _adopt(self, start: float) -> int | None:
        """The row names this master though it does not lead: an earlier acquire
        committed but its answer was lost (a timeout). A renew at that term, started
        now, proves the lease ours from now on."""
        info = self.leader
        if info is None or info.holder != self.holder or info.remaining_s <= 0:
            return None
        if not await self.backend.renew(self.holder, info.term, self.timing.lease_s):
            return None
        log.warning("the lease row names this master at term %d: leading", info.term)
        return info.term

    async def _hold(self) -> None:
        assert self.term is not None
        now = self.clock()
        verdict = decide(now, self.renewed_at, self.timing)
        if verdict is Verdict.STEP_DOWN:
            self._lose("expired", "lease not renewed in time")
            return
        if verdict is Verdict.LEADER:
            await asyncio.sleep(next_check(now, self.renewed_at, self.timing))
            return
        try:
            async with asyncio.timeout(renew_budget(now, self.renewed_at, self.timing)):
                ok = await self.backend.renew(self.holder, self.term, self.timing.lease_s)
        except Exception as exc:
            self.metrics.renew_failures.inc()
            log.warning("lease renew failed (%.1fs of trust left): %s",
                        renew_budget(self.clock(), self.renewed_at, self.timing),
                        exc or type(exc).__name__)
            await asyncio.sleep(min(RETRY_S, renew_budget(self.clock(), self.renewed_at,
                                                          self.timing)))
            return
        if not ok:
            self._lose("lost", "another master holds the lease")
            return
        self.renewed_at = now
        self.metrics.renew_seconds.observe(self.clock() - now)
        try:  # the masters table: only for status, never for the election
            async with asyncio.timeout(self.timing.renew_s / 2):
                await self.backend.heartbeat(self.holder, self.address)
        except Exception as exc:
            log.debug("master heartbeat failed: %s", exc)

    def resign(self, reason: str) -> None:
        """Stop leading now (the leader's own work failed): the lease is left to
        expire, and the next leader — this master again, possibly — starts afresh."""
        if self.term is not None:
            self._lose("resigned", reason)

    def _lose_metrics(self, code: str) -> None:
        self.metrics.is_leader.set(0)
        self.metrics.step_downs.labels(reason=code).inc()
        self._other_seen = self.clock()

    def _lose(self, code: str, reason: str) -> None:
        """`code` labels the step-down metric: expired, lost, resigned or stopping."""
        log.error("stepping down as leader (term %s): %s", self.term, reason)
        self.term = None
        self._lose_metrics(code)
        self.on_loss(reason)
