"""A master restored from a backup learns from its workers what finished after
the backup, and runs none of those jobs again."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import wait_job

RUNNING = common_pb2.JOB_STATE_RUNNING
SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED


async def test_restore_never_reruns_what_finished_after_the_backup(tmp_path: Path) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    db = tmp_path / "master.db"
    try:
        c.start_master()
        worker = c.start_worker("w1", slots=1)
        await c.wait_nodes(1)
        async with c.client() as admin:
            spec = common_pb2.JobSpec(scenario="test", live=True, duration_s=12, output="a.mp4")
            running = (await admin.submit(spec)).job
            await wait_job(c, running.id, lambda j: j.state == RUNNING)
            # Waits: the only slot is taken.
            queued = (await admin.submit(common_pb2.JobSpec(scenario="test", duration_s=2))).job
        # The backup: one job running on w1, one queued.
        r = c.run_master_cli("backup", "--db", str(db), "--to", str(tmp_path / "b.db"))
        assert r.returncode == 0, r.stderr
        async with c.client() as admin:  # the backup saw them so (the first runs 12 s)
            assert (await admin.get(queued.id)).state == common_pb2.JOB_STATE_QUEUED
        for job in (running, queued):
            done = await wait_job(c, job.id, lambda j: j.state == SUCCEEDED, timeout=90)
            assert done.attempt == 1
        port = c.port
        assert c.master is not None
        c.master.signal(signal.SIGTERM)
        c.master.popen.wait(30)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        db.write_bytes((tmp_path / "b.db").read_bytes())
        master = c.start_master(port=port)  # the worker reconnects by itself
        master.wait_for(f"job {running.id} attempt 1: result learned from w1")
        master.wait_for(f"job {queued.id} finished after the backup on w1: not run again")
        for job in (running, queued):
            done = await wait_job(c, job.id, lambda j: j.state == SUCCEEDED, timeout=30)
            assert done.attempt == 1 and done.node_id == "w1"
        await asyncio.sleep(3)  # past the restore's hold: nothing is dispatched again
        async with c.client() as admin:
            for job in (running, queued):
                assert (await admin.get(job.id)).state == SUCCEEDED
        runs = "".join(worker.lines)
        for job in (running, queued):  # started once, ended once, never a second attempt
            assert runs.count(f"job {job.id} attempt 1: ffmpeg pid") == 1, runs[-3000:]
            assert runs.count(f"job {job.id} attempt 1: SUCCEEDED") == 1, runs[-3000:]
            assert f"job {job.id} attempt 2" not in runs, runs[-3000:]
    finally:
        c.stop()
