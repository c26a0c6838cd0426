"""Every process stops when told: within its grace + 2 s, losing nothing acknowledged.

The master's SIGTERM stops intake and gives calls `--stop-grace`; the worker's
drains for its `--stop-grace`; a second signal exits at once. The random test runs
FFRTMP_STOPS_ROUNDS rounds (default 2) from FFRTMP_STOPS_SEED (default 17).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from ffrtmp.core.spec import RawSpec
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.server import Master
from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, Proc, make_certs
from tests.helpers.jobs import TERMINAL, wait_job

MASTER_GRACE = 2.0
WORKER_GRACE = 1.0  # shorter than some jobs: drains both finish and get cut short
BOUND_S = 2.0  # the promise: a process exits within its grace + this
ROUNDS = int(os.environ.get("FFRTMP_STOPS_ROUNDS", "2"))
SEED = int(os.environ.get("FFRTMP_STOPS_SEED", "17"))
RUNNING = common_pb2.JOB_STATE_RUNNING


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        yield c
    finally:
        c.stop()


def _master(cluster: Cluster, port: int | None = None) -> Proc:
    return cluster.start_master("--stop-grace", f"{MASTER_GRACE}s", port=port)


def _worker(cluster: Cluster, name: str, grace: float = WORKER_GRACE, slots: int = 2) -> Proc:
    return cluster.start_worker(name, "--stop-grace", f"{grace}s", slots=slots)


def _workers(cluster: Cluster, names: tuple[str, ...], slots: int = 2) -> list[Proc]:
    """Started side by side: a worker's capability probe takes seconds."""
    if not names:
        return []
    with ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(lambda n: _worker(cluster, n, slots=slots), names))


def _spec(seconds: float, name: str) -> common_pb2.JobSpec:
    return common_pb2.JobSpec(
        scenario="test", live=True, duration_s=seconds, output=f"{name}.mp4", max_retries=10
    )


def _sigterm_together(procs: dict[Proc, float]) -> None:
    """SIGTERM them all at the same moment (a host shutdown); each must exit
    cleanly within its grace + BOUND_S."""
    started = time.monotonic()
    for p in procs:
        p.signal(signal.SIGTERM)
    for p, grace in procs.items():
        try:
            p.popen.wait(max(0.0, started + grace + BOUND_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            tail = "".join(p.lines[-25:])
            raise AssertionError(f"{p.argv[2]} still runs {grace + BOUND_S}s on:\n{tail}") from None
        took = time.monotonic() - started
        out = "".join(p.lines)
        assert p.popen.returncode == 0 and "overran" not in out, (p.argv[2], took, out[-3000:])


async def _all_terminal(cluster: Cluster, ids: list[str]) -> None:
    """Every acknowledged job is still known and ends (after a final restart)."""
    for job_id in ids:
        await wait_job(cluster, job_id, lambda j: j.state in TERMINAL, timeout=90,
                       what="a terminal state")


async def test_master_restarted_with_leases_awaiting_stops_with_its_workers(
    cluster: Cluster,
) -> None:
    """The hang: master SIGKILLed with a backlog and running leases, restarted on
    the same database, workers back with their runs and finished them, then
    SIGTERM to all three at once. The workers' streams closed as the master
    canceled its timers task, which swallowed the cancel (asyncio.wait_for on
    Python 3.11), and the master waited for it forever."""
    _master(cluster)
    workers = _workers(cluster, ("a", "b"), slots=1)
    await cluster.wait_nodes(2)
    async with cluster.client() as c:
        ids = [(await c.submit(_spec(2, f"j{i}"), request_id=f"r{i}")).job.id for i in range(4)]
    await wait_job(cluster, ids[0], lambda j: j.state == RUNNING)
    port = cluster.port
    cluster.master.kill()  # type: ignore[union-attr]
    master = _master(cluster, port)
    master.wait_for(r"scheduler started: \d+ queued, [1-9]\d* leases awaiting their workers")
    master.wait_for(r"keeps [1-9]\d* leases")  # a worker came back and re-offered its run
    await _all_terminal(cluster, ids)  # idle now: a stop closes both streams at once
    await asyncio.sleep(0.3)
    _sigterm_together({master: MASTER_GRACE, **dict.fromkeys(workers, WORKER_GRACE)})
    assert "cut short" not in "".join(master.lines)  # no step needed its deadline
    _master(cluster, port)
    async with cluster.client() as c:
        assert {j.id for j in await c.list_all()} == set(ids)


async def _submitter(cluster: Cluster, rng: random.Random, acked: list[str], tag: str) -> None:
    """Submits in flight while processes stop; only what the master acknowledged counts."""
    for i in range(6):
        spec = _spec(rng.choice([0.5, 1.0, 2.0]), f"{tag}-{i}")
        with contextlib.suppress(Exception):
            async with cluster.client(timeout=3, retries=0) as c:
                acked.append((await c.submit(spec, request_id=f"{tag}-{i}")).job.id)
        await asyncio.sleep(rng.uniform(0.05, 0.3))


async def _watcher(cluster: Cluster, job_id: str) -> None:
    with contextlib.suppress(Exception):
        async with cluster.client(retries=0) as c:
            async for _ in c.watch(job_id):
                pass


async def test_random_stops_of_a_busy_cluster_lose_nothing(cluster: Cluster) -> None:
    rng = random.Random(SEED)
    _master(cluster)
    names = ("a", "b")
    _workers(cluster, names)
    await cluster.wait_nodes(2)
    acked: list[str] = []
    for rnd in range(ROUNDS):
        load = [asyncio.create_task(_submitter(cluster, rng, acked, f"r{rnd}"))]
        await asyncio.sleep(rng.uniform(0.2, 1.0))
        if acked:
            load.append(asyncio.create_task(_watcher(cluster, rng.choice(acked))))
        if rng.random() < 0.4:  # a restart: leases await their workers, streams reconnect
            port = cluster.port
            cluster.master.kill()  # type: ignore[union-attr]
            await asyncio.to_thread(_master, cluster, port)
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        victims = rng.choice([("master", *names), ("master",), names, (rng.choice(names),)])
        procs = {
            (cluster.master if v == "master" else cluster.workers[v]): (
                MASTER_GRACE if v == "master" else WORKER_GRACE
            )
            for v in victims
        }
        await asyncio.to_thread(_sigterm_together, procs)  # type: ignore[arg-type]
        if "master" in victims:
            await asyncio.to_thread(_master, cluster, cluster.port)
        await asyncio.to_thread(_workers, cluster, tuple(v for v in victims if v != "master"))
        for t in load:
            t.cancel()
        await asyncio.gather(*load, return_exceptions=True)
    # A final restart: everything acknowledged is still there and ends.
    await asyncio.to_thread(_sigterm_together, {cluster.master: MASTER_GRACE})  # type: ignore[dict-item]
    await asyncio.to_thread(_master, cluster, cluster.port)
    assert acked
    await _all_terminal(cluster, acked)


def _children(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE  # dead, waiting for a reaper
    except psutil.NoSuchProcess:
        return False


async def test_a_draining_workers_second_signal_exits_at_once(cluster: Cluster) -> None:
    _master(cluster)
    worker = _worker(cluster, "a", grace=600)
    async with cluster.client() as c:
        job = (await c.submit(_spec(60, "long"), request_id="long")).job
    await wait_job(cluster, job.id, lambda j: j.state == RUNNING)
    ffmpeg = _children(worker.pid)
    assert ffmpeg
    worker.signal(signal.SIGTERM)
    worker.wait_for("draining")
    await asyncio.sleep(1.0)
    assert worker.popen.poll() is None  # draining: the run goes on
    started = time.monotonic()
    worker.signal(signal.SIGTERM)
    worker.popen.wait(BOUND_S)
    assert worker.popen.returncode == 1 and time.monotonic() - started < BOUND_S
    await asyncio.sleep(0.5)
    assert not [p for p in ffmpeg if _alive(p)]  # no ffmpeg outlives its worker


_STUCK = textwrap.dedent(
    """
    import asyncio, logging, sys
    from ffrtmp.lifecycle import StopSignals
    logging.basicConfig(level=logging.INFO)
    async def main():
        with StopSignals("stuck", lambda: print("stopping", flush=True), float(sys.argv[1])):
            print("ready", flush=True)
            await asyncio.Event().wait()  # a stop that never finishes
    asyncio.run(main())
    """
)


@pytest.mark.parametrize("second", [False, True])
def test_stop_signals_bound_a_stuck_stop_and_a_second_signal_exits(
    tmp_path: Path, second: bool
) -> None:
    proc = Proc([sys.executable, "-c", _STUCK, "1.0"], tmp_path / "stuck.log")
    proc.wait_for("ready")
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    proc.wait_for("stopping")
    if second:
        proc.signal(signal.SIGTERM)
        proc.popen.wait(BOUND_S)
        assert time.monotonic() - started < 1.0  # before the watchdog's bound
        assert "second signal: exiting now" in "".join(proc.lines)
    else:
        proc.popen.wait(1.0 + BOUND_S)
        assert time.monotonic() - started >= 1.0
        out = "".join(proc.lines)
        assert "stop overran its 1.0s bound" in out
        assert "Stack for <Task" in out and "in main" in out  # where each task waited
    assert proc.popen.returncode == 1
    proc.stop()


async def test_a_failed_background_task_stops_the_master_with_a_failure(tmp_path: Path) -> None:
    """In-process: the store's writer dies; wait() reports the failure, so the
    process exits non-zero (systemd restarts it) instead of serving without a store."""
    certs = make_certs(tmp_path / "certs")
    config = MasterConfig(
        listen="127.0.0.1:0",
        metrics_port=-1,
        db=tmp_path / "m.db",
        ca=certs.ca,
        cert=certs.dir / "master.crt",
        key=certs.dir / "master.key",
        retention_s=0,
    )
    async with Master(config) as master:
        waiting = asyncio.create_task(master.wait())
        await asyncio.sleep(0.1)
        assert not waiting.done()

        def broken(writes: int, seconds: float) -> None:
            raise RuntimeError("disk gone")

        master.store.on_commit.append(broken)  # the writer runs its hooks itself
        submit = asyncio.create_task(master.scheduler.submit(RawSpec(scenario="test")))
        assert await asyncio.wait_for(waiting, 5) is True
        submit.cancel()
