"""Acknowledgements ride the next write to a worker: the servicer's write loop
against the session's real outbox, recording what it would write on the stream;
and the worker's heartbeats leave out the results it already sent on the stream."""

from __future__ import annotations

import asyncio

from ffrtmp.core.model import JobSpec, Lease
from ffrtmp.master.rpc.servicers import worker as servicer
from ffrtmp.master.scheduling.outbox import Outbox as SessionOutbox
from ffrtmp.master.scheduling.sessions import AssignCmd, Command, HeartbeatAckCmd, ResultAckCmd
from ffrtmp.v1 import common_pb2, worker_pb2
from ffrtmp.worker.config import WorkerConfig
from ffrtmp.worker.daemon import Worker
from ffrtmp.worker.session import Session


class Stream:
    def __init__(self) -> None:
        self.written: list[worker_pb2.MasterMessage] = []

    async def write(self, msg: worker_pb2.MasterMessage) -> None:
        self.written.append(msg)


def _acked(msg: worker_pb2.MasterMessage) -> list[tuple[str, int]]:
    return [(a.job_id, a.attempt) for a in msg.result_acks]


Outbox = SessionOutbox[Command | None]  # the session's own kind of outbox


async def _writing(*cmds: Command | None) -> tuple[Stream, Outbox, asyncio.Task[None]]:
    stream, outbox = Stream(), Outbox()
    for c in cmds:
        outbox.put_nowait(c)
    task = asyncio.create_task(servicer._write(stream, outbox))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    return stream, outbox, task


async def test_an_ack_rides_on_the_assign_that_follows_it() -> None:
    stream, outbox, task = await _writing(
        ResultAckCmd(Lease("a", 1)),
        ResultAckCmd(Lease("b", 2)),
        AssignCmd(Lease("c", 1), JobSpec()),
    )
    await asyncio.sleep(0.01)
    [msg] = stream.written  # one write for three commands
    assert msg.WhichOneof("kind") == "assign" and msg.assign.lease.job_id == "c"
    assert _acked(msg) == [("a", 1), ("b", 2)]
    outbox.put_nowait(HeartbeatAckCmd(7))
    outbox.put_nowait(None)
    await asyncio.wait_for(task, 5)
    assert stream.written[1].heartbeat_ack.seq == 7 and not stream.written[1].result_acks
    assert not any(m.WhichOneof("kind") == "result_ack" for m in stream.written)


async def test_an_ack_with_nothing_to_ride_on_goes_alone_after_the_delay() -> None:
    stream, outbox, task = await _writing(ResultAckCmd(Lease("a", 1)))
    assert stream.written == []  # held for a message to ride on
    for _ in range(200):
        if stream.written:
            break
        await asyncio.sleep(servicer.ACK_DELAY_S / 4)
    [msg] = stream.written
    assert msg.WhichOneof("kind") is None and _acked(msg) == [("a", 1)]
    outbox.put_nowait(AssignCmd(Lease("c", 1), JobSpec()))
    outbox.put_nowait(None)
    await asyncio.wait_for(task, 5)
    assert not stream.written[1].result_acks  # acknowledged once


async def test_acks_still_held_when_the_stream_ends_are_written_first() -> None:
    stream, _, task = await _writing(ResultAckCmd(Lease("a", 1)), None)
    await asyncio.wait_for(task, 5)
    assert [_acked(m) for m in stream.written] == [[("a", 1)]]


async def test_a_heartbeat_does_not_list_a_result_already_sent_on_its_stream() -> None:
    # The master reads a stream in order: when the heartbeat arrives it has ended
    # the lease of the Result before it, and listing it would only earn an Abort
    # (which makes the worker forget the result instead of remembering it).
    cfg = WorkerConfig(metrics_port=-1)
    w = Worker(cfg)
    session = Session(cfg, w.table, w.contact, w.metrics, worker_pb2.WorkerMessage)
    earlier = worker_pb2.Result(lease=common_pb2.Lease(job_id="a", attempt=1))
    w.table.unacked["a"] = earlier  # finished while no stream was up: not sent yet
    out: asyncio.Queue[worker_pb2.WorkerMessage | None] = asyncio.Queue()
    session._out = out
    sent = worker_pb2.Result(lease=common_pb2.Lease(job_id="b", attempt=2))
    w.table.unacked["b"] = sent
    session.send(worker_pb2.WorkerMessage(result=sent))
    session.heartbeat()
    assert out.get_nowait() is not None  # the Result
    beat = out.get_nowait()
    assert beat is not None
    assert [(x.job_id, x.attempt) for x in beat.heartbeat.running] == [("a", 1)]
    # Hello, on a new stream, still offers every unacknowledged result.
    assert {(x.job_id, x.attempt) for x in w.table.held()} == {("a", 1), ("b", 2)}
