"""A master on PostgreSQL: `--db postgresql://…` selects the store, and a master
that holds no leader term refuses writes with UNAVAILABLE "not the leader"."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc import aio

from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc
from tests.helpers.certs import ADMIN
from tests.helpers.cluster import Cluster, make_certs


async def test_a_master_without_the_lease_refuses_writes_as_not_the_leader(
    tmp_path: Path, pg_dsn: str
) -> None:
    cluster = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        cluster.start_master("--db", pg_dsn)
        cert, key = cluster.certs.pair(ADMIN)
        creds = grpc.ssl_channel_credentials(
            cluster.certs.ca.read_bytes(), key.read_bytes(), cert.read_bytes()
        )
        async with aio.secure_channel(cluster.address, creds) as ch:
            stub = jobs_pb2_grpc.JobServiceStub(ch)
            # Reads are served from the shared database...
            listed = await stub.ListJobs(jobs_pb2.ListJobsRequest(), timeout=10)
            assert list(listed.jobs) == []
            # ...writes are the leader's alone.
            with pytest.raises(aio.AioRpcError) as info:
                spec = common_pb2.JobSpec(scenario="test", duration_s=1)
                await stub.SubmitJob(jobs_pb2.SubmitJobRequest(spec=spec), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert info.value.details() == "not the leader"
    finally:
        cluster.stop()
