"""`python -m bench.sched_path [--jobs N] [--workers W] [--callers C]`: the
scheduler's own path per job, without grpc: the real `Scheduler` on a real SQLite
store (`synchronous=FULL`), its dispatch loop running, C submitting tasks and W
one-slot in-process workers that answer each Assign with Started and Result.
Prints the process CPU, the store's write operations and its commits (fsyncs) per
job, and the submit → Assign time. Deterministic counts, and CPU that depends far
less on the machine's load than the network figures do."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tests.helpers.sched import SchedHarness

from ffrtmp.core.authz import SYSTEM
from ffrtmp.core.model import AttemptResult, Outcome
from ffrtmp.core.spec import RawSpec
from ffrtmp.master.scheduling.sessions import AssignCmd, NodeSession


async def _run(jobs: int, workers: int, callers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        h = SchedHarness(Path(d))
        h.store._synchronous = "FULL"  # as a master runs it (the harness's is NORMAL)
        async with h:
            sched = h.scheduler
            sessions = [h.worker(f"w{i:03d}").s for i in range(workers)]
            await h.settle()
            done = asyncio.Event()
            finished = 0
            sent: dict[str, float] = {}
            got: dict[str, float] = {}

            async def work(s: NodeSession) -> None:
                nonlocal finished
                while (cmd := await s.outbox.get()) is not None:
                    if not isinstance(cmd, AssignCmd):
                        continue
                    got.setdefault(cmd.lease.job_id, time.perf_counter())
                    await sched.attempts.on_started(s, cmd.lease)
                    ok = AttemptResult(Outcome.SUCCEEDED, output="out.mp4", output_bytes=1)
                    await sched.attempts.on_result(s, cmd.lease, ok)
                    finished += 1
                    if finished == jobs:
                        done.set()

            left = jobs

            async def submit() -> None:
                nonlocal left
                while left > 0:
                    left -= 1
                    t0 = time.perf_counter()
                    job, _ = await sched.submit(RawSpec(scenario="test"), "", SYSTEM)
                    sent.setdefault(job.id, t0)

            tasks = [asyncio.create_task(work(s)) for s in sessions]
            tasks.append(asyncio.create_task(sched.dispatcher.run()))
            writes0, batches0 = h.store.writes, h.store.batches
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(submit() for _ in range(callers)))
            await done.wait()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            writes, batches = h.store.writes - writes0, h.store.batches - batches0
            waits = [got[j] - t0 for j, t0 in sent.items()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "cpu_ms_per_job": cpu * 1000 / jobs,
        "jobs_per_s": jobs / wall,
        "writes_per_job": writes / jobs,
        "commits_per_job": batches / jobs,
        "assign_ms_p50": statistics.median(waits) * 1000 if waits else 0.0,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="bench.sched_path")
    p.add_argument("--jobs", type=int, default=3000)
    p.add_argument("--workers", type=int, default=50)
    p.add_argument("--callers", type=int, default=16)
    a = p.parse_args()
    r = asyncio.run(_run(a.jobs, a.workers, a.callers))
    print("  ".join(f"{k}={v:.3f}" for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()
