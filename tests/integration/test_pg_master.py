"""A master and its tools on PostgreSQL: `--db postgresql://…` selects the store,
a master that holds no leader term refuses writes with UNAVAILABLE "not the
leader", and `ffrtmp-master apikey` writes beside a running leader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc import aio

from ffrtmp.master import keytool
from ffrtmp.master.storage.postgres import lease
from ffrtmp.master.storage.postgres.store import PgStore
from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc
from tests.helpers.certs import ADMIN
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.postgres import free_port, run_async
from tests.helpers.procs import child_env


async def test_a_master_without_the_lease_refuses_writes_as_not_the_leader(
    tmp_path: Path, pg_dsn: str
) -> None:
    async def lead_elsewhere() -> None:
        store = PgStore(pg_dsn)
        await store.open()
        try:
            await lease.lead(store, "elsewhere", "10.9.9.9:50051", lease_s=600)
        finally:
            await store.close()

    await lead_elsewhere()  # another master leads this database
    cluster = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        cluster.start_master("--db", pg_dsn)
        cert, key = cluster.certs.pair(ADMIN)
        creds = grpc.ssl_channel_credentials(
            cluster.certs.ca.read_bytes(), key.read_bytes(), cert.read_bytes()
        )
        async with aio.secure_channel(cluster.address, creds) as ch:
            stub = jobs_pb2_grpc.JobServiceStub(ch)
            # Writes are the leader's alone.
            with pytest.raises(aio.AioRpcError) as info:
                spec = common_pb2.JobSpec(scenario="test", duration_s=1)
                await stub.SubmitJob(jobs_pb2.SubmitJobRequest(spec=spec), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "not the leader" in (info.value.details() or "")
    finally:
        cluster.stop()


def test_apikey_writes_to_postgres_beside_a_leader_or_alone(
    pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keytool.main(["--db", pg_dsn, "create", "alice", "--role", "admin"]) == 0

    async def take_lease() -> int:
        store = PgStore(pg_dsn)
        await store.open()
        try:
            return await lease.lead(store, "m1")  # the tool gave its lease back
        finally:
            await store.close()

    assert run_async(take_lease()) == 2
    # While m1 leads, the tool writes under m1's term and takes no lease.
    assert keytool.main(["--db", pg_dsn, "create", "bob", "--role", "viewer"]) == 0
    assert keytool.main(["--db", pg_dsn, "list"]) == 0
    out = capsys.readouterr().out
    assert "alice  admin  valid" in out and "bob  viewer  valid" in out

    async def holder() -> str | None:
        store = PgStore(pg_dsn)
        await store.open()
        try:
            async with store.connection() as conn:
                info = await lease.current(conn)
                return None if info is None else f"{info.holder}/{info.term}"
        finally:
            await store.close()

    assert run_async(holder()) == "m1/2"


def test_the_master_names_an_unreachable_database_without_a_traceback(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    r = subprocess.run(
        [sys.executable, "-m", "ffrtmp.master.main", "--db",
         f"postgresql://ffrtmp:secret@127.0.0.1:{free_port()}/ffrtmp",
         "--metrics-port", "-1", "--listen", "127.0.0.1:0", "--ca", str(certs.ca),
         "--cert", str(certs.dir / "master.crt"), "--key", str(certs.dir / "master.key")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env=child_env(), check=False,
    )
    assert r.returncode == 2, r.stderr
    assert "cannot open the PostgreSQL store" in r.stderr and "Traceback" not in r.stderr
    assert "secret" not in r.stderr
