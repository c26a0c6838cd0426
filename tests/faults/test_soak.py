"""Soak: hundreds of real jobs while a chaos loop kills or stops (SIGTERM) workers
and the master.

FFRTMP_SOAK_JOBS (default 200) and FFRTMP_SOAK_CHAOS_S (default 25) size it;
`make soak` runs a longer one. At the end every acknowledged job is terminal,
none is lost and none completed twice.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import time
from pathlib import Path

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, Proc, make_certs
from tests.helpers.jobs import TERMINAL, event_states

JOBS = int(os.environ.get("FFRTMP_SOAK_JOBS", "200"))
CHAOS_S = float(os.environ.get("FFRTMP_SOAK_CHAOS_S", "25"))
WORKERS = ("w1", "w2", "w3")
MASTER_GRACE = WORKER_GRACE = 5.0
MASTER_ARGS = ("--retry-backoff", "500ms", "--retry-backoff-max", "2s",
               "--stop-grace", f"{MASTER_GRACE}s")
WORKER_ARGS = ("--stop-grace", f"{WORKER_GRACE}s")


async def _submit_all(cluster: Cluster, acked: dict[str, str]) -> None:
    for i in range(JOBS):
        rid = f"soak-{i}"
        spec = common_pb2.JobSpec(
            scenario="test",
            duration_s=0.5,
            output=f"soak/{rid}.mp4",
            queue=random.choice(["live", "default", "batch"]),
            max_retries=10,
        )
        while rid not in acked:  # the master may be down: the request_id makes retries safe
            try:
                async with cluster.client(timeout=5, retries=1) as c:
                    acked[rid] = (await c.submit(spec, request_id=rid)).job.id
            except Exception:
                await asyncio.sleep(0.3)


def _sigterm(proc: Proc, grace: float) -> None:
    """A stop signal among the faults: the process must exit by itself, cleanly,
    within its grace + 2 s (see docs/PRODUCTION.md, Stopping)."""
    proc.signal(signal.SIGTERM)
    proc.popen.wait(grace + 2)
    assert proc.popen.returncode == 0, "".join(proc.lines[-20:])


async def _chaos(cluster: Cluster, stats: dict[str, int], until: float) -> None:
    rng = random.Random(7)
    for i in itertools.count():
        if time.monotonic() >= until:
            return
        await asyncio.sleep(rng.uniform(2, 4))
        stop = i % 3 == 2  # every third fault is a stop signal rather than a kill
        if rng.random() < 0.35:
            port = cluster.port
            if stop:
                await asyncio.to_thread(_sigterm, cluster.master, MASTER_GRACE)  # type: ignore[arg-type]
            else:
                cluster.master.kill()  # type: ignore[union-attr]
            stats["master_restarts"] += 1
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            await asyncio.to_thread(cluster.start_master, *MASTER_ARGS, port=port)
        else:
            name = rng.choice(WORKERS)
            if stop:
                await asyncio.to_thread(_sigterm, cluster.workers[name], WORKER_GRACE)
            else:
                cluster.workers[name].kill()
                stats["worker_kills"] += 1
            await asyncio.sleep(rng.uniform(0.2, 1.0))
            await asyncio.to_thread(cluster.start_worker, name, *WORKER_ARGS)
        stats["stops"] += stop


async def test_soak_nothing_lost_nothing_twice(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    stats = {"master_restarts": 0, "worker_kills": 0, "stops": 0}
    acked: dict[str, str] = {}
    try:
        cluster.start_master(*MASTER_ARGS)
        for name in WORKERS:
            cluster.start_worker(name, *WORKER_ARGS)
        t0 = time.monotonic()
        chaos = asyncio.create_task(_chaos(cluster, stats, t0 + CHAOS_S))
        await _submit_all(cluster, acked)
        await chaos
        # About a job a second drains on a busy 2-core host: 1,000 need that long.
        deadline = time.monotonic() + max(240, JOBS)
        while True:
            async with cluster.client(timeout=10) as c:
                jobs = await c.list_all(limit=100_000)
            if all(j.state in TERMINAL for j in jobs) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        async with cluster.client(timeout=10) as c:
            full = [await c.get(job_id) for job_id in acked.values()]
        elapsed = time.monotonic() - t0
    finally:
        cluster.stop()
    by_id = {j.id: j for j in jobs}
    lost = [i for i in acked.values() if i not in by_id]
    unfinished = [j.id for j in full if j.state not in TERMINAL]
    twice = [j.id for j in full if event_states(j).count(common_pb2.JOB_STATE_SUCCEEDED) > 1]
    extra = [j.id for j in jobs if j.id not in set(acked.values())]
    failed = [(j.id, j.error) for j in full if j.state != common_pb2.JOB_STATE_SUCCEEDED]
    print(
        f"\nsoak: jobs={len(acked)} kills={stats['worker_kills']} "
        f"restarts={stats['master_restarts']} stops={stats['stops']} "
        f"lost={len(lost)} duplicates={len(twice)} "
        f"unfinished={len(unfinished)} failed={len(failed)} extra={len(extra)} "
        f"elapsed={elapsed:.1f}s"
    )
    assert len(acked) == JOBS
    assert not lost and not twice and not unfinished and not extra
    assert not failed, failed[:5]
    assert stats["worker_kills"] + stats["master_restarts"] >= 3
    # Each success left its output, whole, on the node that reported it. Another
    # copy can only come from a run that finished as its worker was killed, before
    # it could report (the job then ran again); half-written files never remain.
    strays = 0
    for j in full:
        files = list(tmp_path.glob(f"out-*/*/soak/{Path(j.spec.output).name}"))
        own = tmp_path / f"out-{j.node_id}" / j.owner / j.spec.output  # the owner's folder
        assert own in files, (j.id, files)
        strays += len(files) - 1
    print(f"soak: outputs left by runs cut off by a kill: {strays}")
    assert strays <= stats["worker_kills"]
    assert not list(tmp_path.glob("out-*/*/soak/.*.partial.*"))
