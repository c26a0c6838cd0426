"""Carrying out one fault of the plan on the running cluster, and healing it."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from dataclasses import dataclass, field, replace

from tests.chaos.cluster import ChaosCluster
from tests.chaos.load import Load
from tests.chaos.plan import Fault
from tests.chaos.seen import Seen

BUSY_WAIT_S = 5.0


@dataclass
class Injector:
    cluster: ChaosCluster
    load: Load
    seen: Seen
    log: list[dict[str, object]] = field(default_factory=list)
    # Whatever is broken right now, so the end can heal it even after an error.
    _stopped: list[int] = field(default_factory=list)

    async def apply(self, f: Fault) -> None:
        planned = f.worker
        if f.worker and f.kind != "worker_term":
            f = replace(f, worker=await self._busy(f.worker))
        t0 = time.monotonic()
        note = await getattr(self, f"_{f.kind}")(f)
        if f.worker != planned:
            note = f"(on {f.worker}, planned {planned}) {note}"
        self.log.append({"index": f.index, "at": t0, "kind": f.kind, "target": f.worker or "master",
                         "hold_s": f.hold_s, "took_s": round(time.monotonic() - t0, 2),
                         "note": note})  # fmt: skip
        print(f"  fault {f.describe()}  done in {time.monotonic() - t0:.1f}s {note}", flush=True)

    async def _busy(self, planned: str) -> str:
        """A fault of a worker means most when it is encoding: the planned worker if
        it is, else the one encoding most, waiting a few seconds for one to be."""
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            runs = Counter(e["worker"] for e in self.seen.alive() if e["attempt"] >= 0)
            if runs[planned] or (not runs and time.monotonic() > deadline):
                return planned
            if runs:
                return str(runs.most_common(1)[0][0])
            await asyncio.sleep(0.1)

    async def _restart_worker(self, name: str) -> None:
        await asyncio.to_thread(self.cluster.start_worker, name)

    async def _worker_kill(self, f: Fault) -> str:
        self.cluster.kill_worker(f.worker)
        await asyncio.sleep(f.hold_s)
        await self._restart_worker(f.worker)
        return ""

    async def _stall(self, pids: list[int], hold: float) -> None:
        self._stopped = pids
        self.cluster.stop_signal(pids, signal.SIGSTOP)
        await asyncio.sleep(hold)
        self.cluster.stop_signal(list(reversed(pids)), signal.SIGCONT)  # children first
        self._stopped = []

    async def _worker_stall(self, f: Fault) -> str:
        await self._stall([self.cluster.worker_pid(f.worker)], f.hold_s)
        return ""

    async def _worker_freeze(self, f: Fault) -> str:
        # The daemon first, so it spawns nothing more; then what is under it, twice
        # (a child forked between the listing and the stop is caught the second time).
        daemon = self.cluster.worker_pid(f.worker)
        self._stopped = [daemon]
        self.cluster.stop_signal([daemon], signal.SIGSTOP)
        pids = self.cluster.tree(f.worker)
        self.cluster.stop_signal(pids, signal.SIGSTOP)
        pids = self.cluster.tree(f.worker)
        await self._stall(pids, f.hold_s)
        return f"{len(pids)} processes"

    async def _master_kill(self, f: Fault) -> str:
        killed = asyncio.Event()

        def kill() -> None:
            self.cluster.kill_master()
            killed.set()

        burst = asyncio.create_task(self.load.burst(f.burst, f.kill_after, kill))
        await asyncio.wait({burst, asyncio.ensure_future(killed.wait())},
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        await asyncio.sleep(f.hold_s)
        await asyncio.to_thread(self.cluster.start_master)
        await burst
        return f"killed after ack {f.kill_after}/{f.burst}"

    async def _partition_hold(self, f: Fault) -> str:
        proxy = self.cluster.proxies[f.worker]
        proxy.pause()
        try:
            await asyncio.sleep(f.hold_s)
        finally:
            proxy.resume()  # the held bytes are delivered now
        return ""

    async def _partition_reset(self, f: Fault) -> str:
        proxy = self.cluster.proxies[f.worker]
        proxy.refuse()
        try:
            await asyncio.sleep(f.hold_s)
        finally:
            proxy.admit()
        return ""

    async def _worker_term(self, f: Fault) -> str:
        rec = await self.cluster.term(f.worker)
        await asyncio.sleep(f.hold_s)
        await self._restart_worker(f.worker)
        return f"exit {rec.seconds:.1f}s (grace {rec.grace_s:.0f}s){' OVERRUN' * rec.overrun}"

    async def _master_term(self, f: Fault) -> str:
        rec = await self.cluster.term("master")
        await asyncio.sleep(f.hold_s)
        await asyncio.to_thread(self.cluster.start_master)
        return f"exit {rec.seconds:.1f}s (grace {rec.grace_s:.0f}s){' OVERRUN' * rec.overrun}"

    async def _cluster_term(self, f: Fault) -> str:
        recs = await self.cluster.term_all()
        await asyncio.sleep(f.hold_s)
        await asyncio.to_thread(self.cluster.start_master)
        await asyncio.gather(*(self._restart_worker(n) for n in self.cluster.cluster.workers))
        slowest = max(recs, key=lambda r: r.seconds)
        overrun = " OVERRUN" if any(r.overrun for r in recs) else ""
        return f"slowest exit {slowest.who} {slowest.seconds:.1f}s{overrun}"

    async def heal_quietly(self) -> None:
        """Resume anything stopped, before the processes are ended on the way out."""
        self.cluster.stop_signal(list(reversed(self._stopped)), signal.SIGCONT)
        self._stopped = []

    async def heal(self) -> None:
        """Nothing stopped, every link open, every process running."""
        self.cluster.stop_signal(list(reversed(self._stopped)), signal.SIGCONT)
        self._stopped = []
        for p in self.cluster.proxies.values():
            p.admit()
            p.resume()
        c = self.cluster.cluster
        if c.master is None or c.master.popen.poll() is not None:
            await asyncio.to_thread(self.cluster.start_master)
        for name, w in list(c.workers.items()):
            if w.popen.poll() is not None:
                await self._restart_worker(name)
