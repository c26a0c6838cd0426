"""A worker's results are acknowledged on the wire in `result_acks`, riding on
other messages or alone, never as a message of their own kind: a real master
and a raw worker stream under a real worker certificate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from grpc import aio

from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.v1 import common_pb2, nodes_pb2, worker_pb2, worker_pb2_grpc
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.simworker import CHANNEL_OPTIONS, ENCODERS

JOBS = 4


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("acks")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master("--heartbeat-interval", "30s", "--heartbeat-timeout", "2m")  # none sent
        yield c
    finally:
        c.stop()


async def test_every_result_is_acknowledged_once_in_result_acks(bare: Cluster) -> None:
    cert, key = bare.certs.worker("w-acks")
    creds = channel_credentials(bare.certs.ca, cert, key)
    out: asyncio.Queue[worker_pb2.WorkerMessage] = asyncio.Queue()
    caps = nodes_pb2.Capabilities(encoders=list(ENCODERS), slots=1)
    out.put_nowait(worker_pb2.WorkerMessage(hello=worker_pb2.Hello(capabilities=caps)))

    async def requests() -> AsyncIterator[worker_pb2.WorkerMessage]:
        while True:
            yield await out.get()

    assigned: list[tuple[str, int]] = []
    acked: list[tuple[str, int]] = []
    kinds: list[str | None] = []
    async with aio.secure_channel(bare.address, creds, options=CHANNEL_OPTIONS) as ch:
        call = worker_pb2_grpc.WorkerServiceStub(ch).Connect(requests())
        first = await call.read()
        assert first.WhichOneof("kind") == "welcome"
        async with bare.client() as c:
            spec = common_pb2.JobSpec(scenario="test")
            ids = [(await c.submit(spec)).job.id for _ in range(JOBS)]

        async def serve() -> None:
            while len(acked) < JOBS:
                msg = await call.read()
                kinds.append(msg.WhichOneof("kind"))
                acked.extend((a.job_id, a.attempt) for a in msg.result_acks)
                if msg.WhichOneof("kind") == "assign":
                    lease = msg.assign.lease
                    assigned.append((lease.job_id, lease.attempt))
                    out.put_nowait(worker_pb2.WorkerMessage(started=worker_pb2.Started(lease=lease)))
                    result = worker_pb2.Result(lease=lease, outcome=worker_pb2.OUTCOME_SUCCEEDED)
                    out.put_nowait(worker_pb2.WorkerMessage(result=result))

        await asyncio.wait_for(serve(), 60)
        call.cancel()
        async with bare.client() as c:
            states = [(await c.get(i)).state for i in ids]
    assert sorted(acked) == sorted(assigned) and len(assigned) == JOBS
    assert "result_ack" not in kinds
    assert states == [common_pb2.JOB_STATE_SUCCEEDED] * JOBS
    # The last result had nothing to ride on: its acknowledgement came alone.
    assert kinds[-1] is None
