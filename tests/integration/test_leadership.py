"""Several masters on one real PostgreSQL, in this process: one leads, the standby
turns the leader's calls away naming the leader (health and cluster status tell
the same), a client given both addresses follows the leader, a clean stop hands
the lease over at once, a submit retried across the failover makes one job, and
a leader cut from the database steps down before another takes over, its late
writes refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc import aio

from ffrtmp.client import Client
from ffrtmp.core.masters import LEADER_KEY
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.leadership.ha import Leadership
from ffrtmp.master.server import Master
from ffrtmp.master.storage.blobs.config import BlobConfig
from ffrtmp.master.storage.protocol import NotLeader
from ffrtmp.v1 import common_pb2, jobs_pb2
from tests.helpers.certs import ADMIN, Certs, make_certs
from tests.helpers.proxy import TcpProxy

LEASE, RENEW = 2.0, 0.6
SPEC = common_pb2.JobSpec(scenario="test", duration_s=0.3)


def config(certs: Certs, dsn: str) -> MasterConfig:
    blobs = certs.dir.parent / "blobs"
    return MasterConfig(
        listen="127.0.0.1:0",
        metrics_port=-1,
        db=dsn,
        ca=certs.ca,
        cert=certs.dir / "master.crt",
        key=certs.dir / "master.key",
        lease_s=LEASE,
        lease_renew_s=RENEW,
        retention_s=0,
        stop_grace_s=0.5,
        heartbeat_interval_s=0.5,
        heartbeat_timeout_s=4.0,
        blobs=BlobConfig(dir=blobs),
    )


def client(certs: Certs, *masters: Master) -> Client:
    cert, key = certs.pair(ADMIN)
    addresses = [f"127.0.0.1:{m.port}" for m in masters]
    return Client(addresses, ca=certs.ca, cert=cert, key=key, timeout=5.0)


async def until(cond: object, timeout: float = 10.0) -> float:
    start = time.monotonic()
    while not cond():  # type: ignore[operator]
        assert time.monotonic() - start < timeout, "condition not met in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path / "certs")


@pytest.fixture
async def pair(certs: Certs, pg_dsn: str) -> AsyncIterator[tuple[Master, Master]]:
    a, b = Master(config(certs, pg_dsn)), Master(config(certs, pg_dsn))
    await a.start()
    await until(lambda: a.role.leading())
    await b.start()
    try:
        yield a, b
    finally:
        await b.stop(grace=0)
        await a.stop(grace=0)


async def test_the_standby_names_the_leader(certs: Certs, pair: tuple[Master, Master]) -> None:
    a, b = pair
    assert a.role.leading() and not b.role.leading()
    await until(lambda: b.role.leader_address() != "")
    async with client(certs, b) as only_standby:
        only_standby.retries = 0
        with pytest.raises(aio.AioRpcError) as info:
            await only_standby.jobs.ListJobs(jobs_pb2.ListJobsRequest(), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert dict(info.value.trailing_metadata() or ())[LEADER_KEY] == f"127.0.0.1:{a.port}"
        assert "not the leader" in (info.value.details() or "")
        # Liveness yes, the leader's services no.
        assert await only_standby.health() == "SERVING"
        assert await only_standby.health("ffrtmp.v1.JobService") == "NOT_SERVING"
        st = await only_standby.cluster_status()
        assert st.mode == "postgresql" and st.term >= 1
        assert st.leader_address == f"127.0.0.1:{a.port}"
        assert {m.address for m in st.masters} == {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"}
        assert [m.leader for m in st.masters].count(True) == 1
        # The typed client given the standby first goes to the leader by itself.
    async with client(certs, b, a) as c:
        job = (await c.submit(SPEC, request_id="r-1")).job
        assert c.master == f"127.0.0.1:{a.port}"
        assert (await c.get(job.id)).id == job.id


async def test_a_clean_stop_hands_over_and_a_retried_submit_makes_one_job(
    certs: Certs, pair: tuple[Master, Master]
) -> None:
    a, b = pair
    async with client(certs, a, b) as c:
        first = (await c.submit(SPEC, request_id="same-request")).job
        term = (await c.cluster_status()).term
        await a.stop(grace=0)
        took = await until(lambda: b.role.leading())
        assert took < LEASE  # released, not waited out
        again = (await c.submit(SPEC, request_id="same-request")).job
        assert again.id == first.id
        assert c.master == f"127.0.0.1:{b.port}"
        jobs = await c.list_all()
        assert [j.id for j in jobs] == [first.id]
        assert (await c.cluster_status()).term == term + 1
        # Every service serves from the new leader's scheduler, not the idle one it began with.
        assert b.work is not None
        for user in b.work.users:
            served = getattr(user, "scheduler", None) or user.liveness.st  # type: ignore[attr-defined]
            assert served in (b.scheduler, b.scheduler.st), type(user).__name__


async def test_a_leader_cut_from_the_database_steps_down_and_its_writes_are_refused(
    certs: Certs, pg_dsn: str
) -> None:
    host_port = pg_dsn.split("@")[1].split("/")[0]
    proxy = TcpProxy(int(host_port.rsplit(":", 1)[1]))
    cut_dsn = pg_dsn.replace(host_port, f"127.0.0.1:{proxy.port}")
    a, b = Master(config(certs, cut_dsn)), Master(config(certs, pg_dsn))
    await a.start()
    try:
        await until(lambda: a.role.leading())
        await b.start()
        assert isinstance(a.role, Leadership) and isinstance(b.role, Leadership)
        old_term = a.role.roles.term
        proxy.pause()
        cut = time.monotonic()
        await until(lambda: not a.role.leading())
        stepped_down = time.monotonic() - cut
        await until(lambda: b.role.leading())
        took_over = time.monotonic() - cut
        assert stepped_down < took_over  # never two leaders at once
        assert b.role.roles.term == (old_term or 0) + 1
        proxy.resume()
        # The deposed leader's late write: refused by the fence, no row changed.
        with pytest.raises(NotLeader):
            await a.store.upsert_node("late-node", {}, "x", 0)
        assert all(n.node_id != "late-node" for n in await b.store.known_nodes())
        await asyncio.sleep(LEASE)
        assert not a.role.leading() and b.role.leading()
    finally:
        await b.stop(grace=0)
        await a.stop(grace=0)
        proxy.close()


async def test_the_guides_postgresql_backup_commands_run(
    certs: Certs, pg_dsn: str, tmp_path: Path
) -> None:
    """PRODUCTION.md's pg_dump block, run as written against a master's database."""
    import os
    import re
    import subprocess

    guide = (Path(__file__).resolve().parents[2] / "docs" / "PRODUCTION.md").read_text()
    blocks = [b for b in re.findall(r"^```bash\n(.*?)^```", guide, flags=re.M | re.S)
              if "pg_dump" in b or "pg_restore --list" in b]
    assert len(blocks) == 2  # the dump, then the check that it reads back
    master = Master(config(certs, pg_dsn))  # creates the schema, leads, takes a job
    await master.start()
    try:
        await until(lambda: master.role.leading())
        async with client(certs, master) as c:
            await c.submit(SPEC, request_id="kept")
    finally:
        await master.stop(grace=0)
    env = {**os.environ, "PGURL": pg_dsn, "BACKUP_DIR": str(tmp_path / "backups")}
    (tmp_path / "backups").mkdir()
    for block in blocks:
        r = subprocess.run(["bash", "-eo", "pipefail", "-c", block], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
        assert r.returncode == 0, block + r.stdout + r.stderr
    dump = next((tmp_path / "backups").glob("ffrtmp-*.pgdump"))
    listing = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True,
                             text=True, timeout=60, check=True).stdout
    assert "TABLE DATA public jobs" in listing and "leader_lease" in listing
