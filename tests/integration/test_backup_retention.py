"""Backup of a live database, restore onto a second master, and retention."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc import aio

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.scrape import scrape, value


async def _finish(cluster: Cluster, n: int) -> list[str]:
    async with cluster.client() as c:
        ids = [
            (await c.submit(common_pb2.JobSpec(scenario="test", duration_s=0.3))).job.id
            for _ in range(n)
        ]
        for job_id in ids:
            states = [j.state async for j in c.watch(job_id)]
            assert states[-1] == common_pb2.JOB_STATE_SUCCEEDED
    return ids


async def test_backup_while_running_then_restore_on_a_second_master(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    live = Cluster(tmp_path / "live", certs)
    (tmp_path / "live").mkdir()
    try:
        live.start_master()
        live.start_worker("w1")
        await live.wait_nodes(1)
        done = await _finish(live, 3)
        async with live.client() as c:  # queued behind a drained pool: still QUEUED
            await c.drain_node("w1")
            queued = (await c.submit(common_pb2.JobSpec(scenario="test"))).job.id
        backup = tmp_path / "backups" / "ffrtmp-1.db"
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "ffrtmp.master.main",
                "backup",
                "--db",
                str(tmp_path / "live" / "master.db"),
                "--to",
                str(backup),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        assert "(4 jobs)" in r.stdout
        assert not Path(f"{backup}-wal").exists()  # self-contained
    finally:
        live.stop()
    # Restore: the backup becomes the database of a fresh master.
    restored = Cluster(tmp_path / "restored", certs)
    (tmp_path / "restored").mkdir()
    (tmp_path / "restored" / "master.db").write_bytes(backup.read_bytes())
    try:
        restored.start_master()
        async with restored.client() as c:
            for job_id in done:
                assert (await c.get(job_id)).state == common_pb2.JOB_STATE_SUCCEEDED
            assert (await c.get(queued)).state == common_pb2.JOB_STATE_QUEUED
    finally:
        restored.stop()


def test_backup_of_a_missing_database_fails_cleanly(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "ffrtmp.master.main",
            "backup",
            "--db",
            str(tmp_path / "no.db"),
            "--to",
            str(tmp_path / "b.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 1 and "no such database" in r.stderr
    assert not (tmp_path / "b.db").exists()


async def test_retention_deletes_old_terminal_jobs_only(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        cluster.start_master("--retention", "1s", "--retention-interval", "200ms")
        cluster.start_worker("w1")
        await cluster.wait_nodes(1)
        done = await _finish(cluster, 3)
        async with cluster.client() as c:
            await c.drain_node("w1")
            waiting = (await c.submit(common_pb2.JobSpec(scenario="test"))).job.id
            deadline = time.monotonic() + 20
            gone: set[str] = set()
            while len(gone) < len(done) and time.monotonic() < deadline:
                for job_id in done:
                    try:
                        await c.get(job_id)
                    except aio.AioRpcError as e:
                        assert e.code() == grpc.StatusCode.NOT_FOUND
                        gone.add(job_id)
                await asyncio.sleep(0.2)
            assert gone == set(done)
            await asyncio.sleep(1.5)  # past the retention: a queued job is never deleted
            assert (await c.get(waiting)).state == common_pb2.JOB_STATE_QUEUED
        assert (
            value(scrape(cluster.metrics_port), "ffrtmp_retention_jobs_deleted_total") or 0
        ) >= 3
    finally:
        cluster.stop()
    conn = sqlite3.connect(tmp_path / "master.db")
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
        ids = ",".join(f"'{i}'" for i in done)
        assert (
            conn.execute(f"SELECT count(*) FROM job_events WHERE job_id IN ({ids})").fetchone()[0]
            == 0
        )
    finally:
        conn.close()
