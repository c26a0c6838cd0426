"""The whole cluster crashes (master and every worker SIGKILLed) and only some
workers come back: the leases of the missing one wait out one heartbeat timeout
from the master's start, no less, and then run elsewhere at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import log_time, wait_job

pytestmark = pytest.mark.media

RUNNING = common_pb2.JOB_STATE_RUNNING
ASSIGNED = common_pb2.JOB_STATE_ASSIGNED
TIMEOUT_S = 3.0
FAST = ("--heartbeat-interval", "0.5s", "--heartbeat-timeout", f"{TIMEOUT_S:g}s")
# From the new master's start to the reassignment: the timeout, then one sweep,
# one commit and a dispatch round (generous: the machine may be loaded).
BOUND_S = TIMEOUT_S + 4.0


async def _running(c: Cluster, job_id: str, node: str) -> None:
    await wait_job(c, job_id, lambda j: j.state == RUNNING and j.node_id == node,
                   what=f"running on {node}")


async def test_a_missing_workers_jobs_run_elsewhere_after_a_cluster_crash(
    tmp_path: Path,
) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        c.start_master(*FAST)
        c.start_worker("a", slots=2)
        async with c.client() as admin:
            spec = common_pb2.JobSpec(scenario="test", live=True, duration_s=60, output="x.mp4")
            on_a = [(await admin.submit(spec)).job.id for _ in range(2)]
            for job_id in on_a:
                await _running(c, job_id, "a")
            c.start_worker("b", slots=1)
            on_b = (await admin.submit(spec)).job.id
            await _running(c, on_b, "b")
        port = c.port
        assert c.master is not None
        for proc in (c.master, c.workers["a"], c.workers["b"]):
            proc.kill()
        master = c.start_master(*FAST, port=port)
        loaded = master.wait_for(r"scheduler started: \d+ queued, 3 leases awaiting")
        started = log_time(loaded.string)  # the timeout counts from here
        c.start_worker("b", slots=3)  # a never comes back
        moved = {}
        for job_id in on_a:
            job = await wait_job(c, job_id, lambda j: j.node_id == "b" and j.attempt == 2,
                                 timeout=60, what="on b at attempt 2")
            moved[job_id] = next(e for e in job.events
                                 if e.to_state == ASSIGNED and e.attempt == 2)
            assert any("node a lost" in e.reason for e in job.events)
        waited = [e.at_unix_ms / 1000 - started for e in moved.values()]
        # Never before a's timeout (log times have ms resolution), soon after it.
        assert all(TIMEOUT_S - 0.01 <= w <= BOUND_S for w in waited), waited
        async with c.client() as admin:
            for job_id in [*on_a, on_b]:
                await admin.cancel(job_id)
    finally:
        c.stop()
