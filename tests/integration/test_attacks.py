"""Attacks from inside the fleet: a process holding a valid worker certificate of its
own, speaking the real protocol to a real master, says what it should not. And a
client that reuses a request id for another job. Each ends with a clear status or
a refusal, nothing lost, nothing succeeded that did not run, nothing done twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from grpc import aio

from ffrtmp.v1 import common_pb2, nodes_pb2, worker_pb2, worker_pb2_grpc
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.simworker import CHANNEL_OPTIONS, ENCODERS, worker_creds

QUEUED, ASSIGNED = common_pb2.JOB_STATE_QUEUED, common_pb2.JOB_STATE_ASSIGNED
SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED
WM = worker_pb2.WorkerMessage
# A label no worker here offers: a job that needs it waits in the queue.
NOWHERE = common_pb2.Requirements(labels={"site": "nowhere"})


class RawWorker:
    """One WorkerService.Connect stream that sends only what the test tells it."""

    def __init__(self, cluster: Cluster, name: str, *, encoders: tuple[str, ...] = ENCODERS,
                 instance: str = "", running: tuple[tuple[str, int], ...] = (),
                 finished: tuple[worker_pb2.Result, ...] = (), node_id: str = "") -> None:
        cluster.certs.worker(name)
        self.creds = worker_creds(cluster.certs.dir, name)
        self.target = cluster.address
        caps = nodes_pb2.Capabilities(encoders=list(encoders), cpu_threads=2, slots=1)
        hello = worker_pb2.Hello(
            node_id=node_id, capabilities=caps, instance=instance, finished=list(finished),
            running=[common_pb2.Lease(job_id=j, attempt=a) for j, a in running],
        )
        self.out: asyncio.Queue[WM | None] = asyncio.Queue()
        self.out.put_nowait(WM(hello=hello))
        self.got: asyncio.Queue[worker_pb2.MasterMessage] = asyncio.Queue()
        self.channel: aio.Channel | None = None
        self.call: aio.StreamStreamCall | None = None
        self.task: asyncio.Task[grpc.StatusCode] | None = None

    async def _requests(self) -> AsyncIterator[WM]:
        while (msg := await self.out.get()) is not None:
            yield msg

    async def _read(self) -> grpc.StatusCode:
        assert self.call is not None
        try:
            async for msg in self.call:
                self.got.put_nowait(msg)
        except aio.AioRpcError as exc:
            self.details = exc.details()
            return exc.code()
        return grpc.StatusCode.OK

    def start(self) -> RawWorker:
        self.channel = aio.secure_channel(self.target, self.creds, options=CHANNEL_OPTIONS)
        stub = worker_pb2_grpc.WorkerServiceStub(self.channel)
        self.call = stub.Connect(self._requests())
        self.task = asyncio.create_task(self._read())
        return self

    async def expect(self, kind: str, timeout: float = 10) -> worker_pb2.MasterMessage:
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.got.get()
                if msg.WhichOneof("kind") == kind:
                    return msg

    async def acked(self, lease: common_pb2.Lease, timeout: float = 10) -> None:
        """Until the master acknowledges the Result of `lease` (alone, or beside
        another command)."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.got.get()
                acks = [*msg.result_acks]
                if msg.WhichOneof("kind") == "result_ack":
                    acks.append(msg.result_ack.lease)
                if any((a.job_id, a.attempt) == (lease.job_id, lease.attempt) for a in acks):
                    return

    async def ended(self, timeout: float = 10) -> grpc.StatusCode:
        assert self.task is not None
        return await asyncio.wait_for(self.task, timeout)

    def send(self, **kw: object) -> None:
        self.out.put_nowait(WM(**kw))  # type: ignore[arg-type]

    async def close(self) -> None:
        self.out.put_nowait(None)
        if self.channel is not None:
            await self.channel.close()
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("attacks")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master("--heartbeat-interval", "0.5s", "--heartbeat-timeout", "30s")
        yield c
    finally:
        c.stop()


def _lease(job_id: str, attempt: int) -> common_pb2.Lease:
    return common_pb2.Lease(job_id=job_id, attempt=attempt)


def _success(job_id: str, attempt: int) -> worker_pb2.Result:
    return worker_pb2.Result(lease=_lease(job_id, attempt), outcome=worker_pb2.OUTCOME_SUCCEEDED,
                             output="x.mp4", output_bytes=1)


async def _submit(c: Cluster, **kw: object) -> str:
    spec = common_pb2.JobSpec(scenario="test", duration_s=1, output="x.mp4", **kw)  # type: ignore[arg-type]
    async with c.client() as client:
        return (await client.submit(spec)).job.id


async def _job(c: Cluster, job_id: str) -> common_pb2.Job:
    async with c.client() as client:
        return await client.get(job_id)


async def _cancel(c: Cluster, job_id: str) -> None:
    async with c.client() as client:
        await client.cancel(job_id)


async def test_hello_cannot_report_a_success_for_a_job_that_never_ran(master: Cluster) -> None:
    job_id = await _submit(master, requirements=NOWHERE)  # it waits in the queue
    evil = RawWorker(master, "evil-finished", encoders=("aac",),
                     finished=(_success(job_id, 1), _success(job_id, 7))).start()
    try:
        await evil.expect("welcome")
        await asyncio.sleep(0.5)
        job = await _job(master, job_id)
        assert (job.state, job.attempt) == (QUEUED, 0), job
    finally:
        await evil.close()
        await _cancel(master, job_id)


async def test_reports_for_another_nodes_lease_are_refused(master: Cluster) -> None:
    holder = RawWorker(master, "holder").start()
    evil: RawWorker | None = None
    try:
        await holder.expect("welcome")
        job_id = await _submit(master)
        assign = (await holder.expect("assign")).assign
        lease = (assign.lease.job_id, assign.lease.attempt)
        assert lease == (job_id, 1)
        # A Hello claiming the lease, then every report about it.
        evil = RawWorker(master, "evil-reports", encoders=("aac",), running=(lease,)).start()
        welcome = (await evil.expect("welcome")).welcome
        assert [(x.job_id, x.attempt) for x in welcome.abort] == [lease]
        assert not welcome.keep
        evil.send(started=worker_pb2.Started(lease=_lease(*lease), pid=1))
        progress = common_pb2.Progress(percent=99.0, frame=1)
        evil.send(progress=worker_pb2.ProgressReport(lease=_lease(*lease), progress=progress))
        evil.send(result=_success(*lease))
        evil.send(heartbeat=worker_pb2.Heartbeat(running=[_lease(*lease)], seq=1))
        for _ in range(4):  # Started, Progress, Result, the heartbeat's lease
            abort = (await evil.expect("abort")).abort
            assert (abort.lease.job_id, abort.lease.attempt) == lease
        job = await _job(master, job_id)
        assert (job.state, job.node_id, job.attempt) == (ASSIGNED, "holder", 1), job
        assert job.progress.percent == 0
        # The holder's own run is untouched and ends once.
        holder.send(started=worker_pb2.Started(lease=_lease(*lease), pid=1))
        holder.send(result=_success(*lease))
        await holder.acked(_lease(*lease))
        job = await _job(master, job_id)
        assert (job.state, job.node_id, job.attempt, job.lost_attempts) == (
            SUCCEEDED, "holder", 1, 0)
        assert [e.to_state for e in job.events].count(SUCCEEDED) == 1
    finally:
        await holder.close()
        if evil is not None:
            await evil.close()


async def test_hello_naming_another_node_is_refused(master: Cluster) -> None:
    evil = RawWorker(master, "evil-name", node_id="holder").start()
    try:
        assert await evil.ended() == grpc.StatusCode.PERMISSION_DENIED
        assert "evil-name" in evil.details
    finally:
        await evil.close()


async def test_oversized_message_ends_only_that_stream(master: Cluster) -> None:
    evil = RawWorker(master, "evil-huge").start()
    try:
        await evil.expect("welcome")
        huge = worker_pb2.Result(lease=_lease("0" * 16, 1), log_tail="x" * (64 << 20))
        evil.send(result=huge)
        assert await evil.ended(30) == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        await evil.close()
    job_id = await _submit(master, requirements=NOWHERE)
    await _cancel(master, job_id)  # the master still serves
    assert master.master is not None and master.master.popen.poll() is None


async def test_second_process_with_one_identity_is_refused(master: Cluster) -> None:
    first = RawWorker(master, "twin", instance="process-1").start()
    second: RawWorker | None = None
    try:
        await first.expect("welcome")
        job_id = await _submit(master)
        lease = (await first.expect("assign")).assign.lease
        first.send(started=worker_pb2.Started(lease=lease, pid=1))
        # Another process under the same certificate, which runs nothing.
        second = RawWorker(master, "twin", instance="process-2").start()
        assert await second.ended() == grpc.StatusCode.ALREADY_EXISTS
        assert "already connected from another process" in second.details
        # The first keeps its stream and its run.
        first.send(heartbeat=worker_pb2.Heartbeat(running=[lease], seq=1, assign_seq=1))
        await asyncio.sleep(0.5)
        job = await _job(master, job_id)
        assert (job.state, job.node_id, job.attempt, job.lost_attempts) == (
            common_pb2.JOB_STATE_RUNNING, "twin", 1, 0), job
        first.send(result=_success(lease.job_id, lease.attempt))
        await first.acked(lease)
        assert (await _job(master, job_id)).state == SUCCEEDED
        # Once the first process is gone, the second gets in.
        await first.close()
        await second.close()
        for _ in range(50):
            second = RawWorker(master, "twin", instance="process-2").start()
            try:
                await second.expect("welcome", timeout=1)
                break
            except TimeoutError:
                await second.close()
        else:
            raise AssertionError("the second process never got in")
    finally:
        await first.close()
        if second is not None:
            await second.close()


async def test_request_id_reused_with_another_spec_is_refused(master: Cluster) -> None:
    spec = common_pb2.JobSpec(scenario="test", duration_s=1, output="a.mp4",
                              requirements=NOWHERE)
    other = common_pb2.JobSpec(scenario="test", duration_s=1, output="b.mp4",
                               requirements=NOWHERE)
    async with master.client(retries=0) as client:
        first = (await client.submit(spec, request_id="attack-rid")).job
        again = (await client.submit(spec, request_id="attack-rid")).job
        assert again.id == first.id  # a plain retry: the same job
        with pytest.raises(grpc.RpcError) as info:
            await client.submit(other, request_id="attack-rid")
        assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "request_id" in (info.value.details() or "")
        assert first.id in (info.value.details() or "")
        jobs = [j for j in await client.list_all() if j.spec.output in ("a.mp4", "b.mp4")]
        assert [j.id for j in jobs] == [first.id]
        assert (await client.get(first.id)).spec.output == "a.mp4"
        await client.cancel(first.id)
