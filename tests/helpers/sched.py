"""The real scheduler in-process, driven by hand: a store on a temporary SQLite
file, a fake clock, a seeded random source and fake workers that record what
the master sends them. Nothing runs by itself — no dispatch loop, no timer loop
— so a test puts every event in the order it wants and the outcome never
depends on how fast the machine is.

    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()                  # dispatch rounds, spawned steps
        lease = a.assigned()[-1].lease
        await a.started(lease)
        await h.tick(120)                 # time passes; timers sweep
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ffrtmp.core.authz import SYSTEM
from ffrtmp.core.model import (
    AttemptResult,
    Job,
    JobEvent,
    JobState,
    Lease,
    Outcome,
    ProgressInfo,
)
from ffrtmp.core.retry import Backoff
from ffrtmp.core.spec import RawSpec
from ffrtmp.core.states import can_transition
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.observe.job_traces import JobTraces
from ffrtmp.master.observe.lifecycle import JobLifecycle
from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.scheduling.scheduler import Scheduler
from ffrtmp.master.scheduling.sessions import (
    AbortCmd,
    AssignCmd,
    CancelCmd,
    Command,
    NodeSession,
)
from ffrtmp.master.scheduling.sources import Sources
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.storage.protocol import Before, Change
from ffrtmp.master.storage.sqlite.store import SqliteStore

C = TypeVar("C")
ENCODERS = ("libx264", "aac")


class FakeClock:
    """Monotonic seconds and wall milliseconds that move only when told."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.t = 1000.0
        self._start_ms = start_ms

    def monotonic(self) -> float:
        return self.t

    def now_ms(self) -> int:
        return self._start_ms + round((self.t - 1000.0) * 1000)

    def advance(self, seconds: float) -> None:
        self.t += seconds


class GatedStore(SqliteStore):
    """The SQLite store, with a way to act just before the next commit of a
    state change: a cancel or a drain landing while a dispatch round's commit is
    in flight, exactly there."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, synchronous="NORMAL")
        self.before_apply: list[Callable[[Sequence[Change]], Awaitable[None]]] = []
        # Run after the next insert committed, before the scheduler hears of it
        # (one that raises plays a master dying there).
        self.after_insert: list[Callable[[Job], Awaitable[None]]] = []

    async def apply(self, changes: Sequence[Change]) -> list[Before | None]:
        hooks, self.before_apply = self.before_apply, []
        for hook in hooks:
            await hook(changes)
        return await super().apply(changes)

    async def insert_job(
        self,
        job: Job,
        event: JobEvent,
        more: Sequence[tuple[Job, JobEvent]] = (),
        assign: Change | None = None,
    ) -> tuple[Job, bool]:
        stored = await super().insert_job(job, event, more, assign)
        hooks, self.after_insert = self.after_insert, []
        for hook in hooks:
            await hook(stored[0])
        return stored


class FakeWorker:
    """The worker end of one stream: calls what the servicer calls, and keeps
    everything the master put in the session's outbox."""

    def __init__(self, h: SchedHarness, node_id: str) -> None:
        self.h = h
        self.node_id = node_id
        self.got: list[Command | None] = []
        self.session: NodeSession | None = None
        self.keep: list[Lease] = []
        self.abort: list[Lease] = []

    def connect(self, *, slots: int = 1, running: Sequence[Lease] = (),
                encoders: Sequence[str] = ENCODERS) -> FakeWorker:
        caps: dict[str, object] = {"encoders": list(encoders), "slots": slots}
        s, self.keep, self.abort = self.h.scheduler.liveness.connect(
            self.node_id, caps, slots, "fake", running
        )
        self.session = s
        return self

    @property
    def s(self) -> NodeSession:
        assert self.session is not None, "connect first"
        return self.session

    def disconnect(self) -> None:
        self.h.scheduler.liveness.disconnect(self.s, self.s.generation)

    def sent(self) -> list[Command | None]:
        """Everything sent so far (None: the master closed the stream)."""
        while not self.s.outbox.empty():
            self.got.append(self.s.outbox.get_nowait())
        return self.got

    def of(self, kind: type[C]) -> list[C]:
        return [c for c in self.sent() if isinstance(c, kind)]

    def assigned(self) -> list[Lease]:
        return [c.lease for c in self.of(AssignCmd)]

    def canceled(self) -> list[Lease]:
        return [c.lease for c in self.of(CancelCmd)]

    def aborted(self) -> list[Lease]:
        return [c.lease for c in self.of(AbortCmd)]

    # -- what a worker says --------------------------------------------------
    def heartbeat(self, *, running: Sequence[Lease] | None = None, draining: bool = False) -> None:
        live = self.h.scheduler.liveness
        live.touch(self.s)
        leases = [Lease(j, a) for j, a in self.s.leases.items() if a > 0]
        live.on_heartbeat(self.s, leases if running is None else running, 0, draining)

    async def started(self, lease: Lease) -> None:
        self.h.scheduler.liveness.touch(self.s)
        await self.h.scheduler.attempts.on_started(self.s, lease)

    def progress(self, lease: Lease, percent: float) -> None:
        self.h.scheduler.attempts.on_progress(self.s, lease, ProgressInfo(percent=percent))

    async def result(self, lease: Lease, outcome: Outcome = Outcome.SUCCEEDED,
                     **fields: Any) -> None:
        self.h.scheduler.liveness.touch(self.s)
        if outcome == Outcome.SUCCEEDED:
            fields = {"output": "out.mp4", "output_bytes": 1000, **fields}
        await self.h.scheduler.attempts.on_result(self.s, lease, AttemptResult(outcome, **fields))
        await self.h.settle()


class SchedHarness:
    def __init__(self, root: Path, *, seed: int = 7, hold_queue: bool = False,
                 **config: Any) -> None:
        self.hold_queue = hold_queue  # as after a restore from backup (restore.py)
        config.setdefault("heartbeat_timeout_s", 120.0)
        config.setdefault("backoff", Backoff(base_s=5.0, factor=2.0, cap_s=300.0, jitter=0.2))
        self.db = root / "sched.db"
        self.config = MasterConfig(db=self.db, **config)
        self.clock = FakeClock()
        self.rand = random.Random(seed)
        self.metrics = MasterMetrics()
        self.store = GatedStore(self.db)
        sources = Sources(clock=self.clock.monotonic, wall=self.clock.now_ms, rand=self.rand.random)
        self.scheduler = Scheduler(State(self.store, self.config, self.metrics, sources))
        self.transitions: list[tuple[str, JobState, JobState]] = []
        self.store.observers.append(self._observe)
        # Wait and run times, as the master records them.
        self.store.observers.append(JobLifecycle(self.metrics, JobTraces()).transition)
        self.workers: dict[str, FakeWorker] = {}

    def _observe(self, b: Before, to: JobState, at_ms: int, node: str, attempt: int) -> None:
        self.transitions.append((b.job_id, b.state, to))

    async def __aenter__(self) -> SchedHarness:
        await self.store.open()
        await self.scheduler.load(hold_queue=self.hold_queue)
        self.scheduler.restore.restored = self.hold_queue
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.scheduler.st.settle()
        await self.store.close()
        if t is None:  # every committed step is one the transition table allows
            illegal = [x for x in self.transitions if not can_transition(x[1], x[2])]
            assert not illegal, f"transitions the table forbids: {illegal}"

    # -- driving ---------------------------------------------------------------
    def worker(self, node_id: str, **kw: Any) -> FakeWorker:
        w = self.workers[node_id] = FakeWorker(self, node_id).connect(**kw)
        return w

    async def settle(self) -> None:
        """Run spawned steps and dispatch rounds until nothing moves."""
        st = self.scheduler.st
        await st.settle()
        while await self.scheduler.dispatcher.dispatch_round():
            await st.settle()

    async def tick(self, seconds: float, *, beating: Sequence[str] = ()) -> None:
        """Let `seconds` pass (the workers named in `beating` heartbeat meanwhile),
        then sweep the timers: node loss, retry backoffs."""
        self.clock.advance(seconds)
        for node_id in beating:
            self.workers[node_id].heartbeat()
        await self.scheduler.liveness.sweep()
        await self.settle()

    async def submit(self, request_id: str = "", **spec: Any) -> Job:
        spec.setdefault("scenario", "test")
        job, _ = await self.scheduler.submit(RawSpec(**spec), request_id, SYSTEM)
        return job

    async def job(self, job_id: str) -> Job:
        return await self.scheduler.get(job_id)

    async def state(self, job_id: str) -> tuple[JobState, str, int]:
        j = await self.job(job_id)
        return j.state, j.node_id, j.attempt

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or {})
        return value or 0.0
