"""WorkerService.Connect: one bidirectional stream per worker.

The worker's certificate names the node. The servicer reads worker messages in
one task and writes the session's outbox in another; `Liveness` (the stream
coming and going, heartbeats) and `Attempts` (what runs report) decide everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from grpc import aio

from ffrtmp import wire
from ffrtmp.core.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from ffrtmp.core.model import Lease
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.rpc import limits
from ffrtmp.master.rpc.handlers import Ctx
from ffrtmp.master.rpc.limits import MAX_SLOTS
from ffrtmp.master.scheduling.attempts import Attempts
from ffrtmp.master.scheduling.liveness import Liveness
from ffrtmp.master.scheduling.outbox import Outbox
from ffrtmp.master.scheduling.restore import Restore
from ffrtmp.master.scheduling.scheduler import Scheduler
from ffrtmp.master.scheduling.sessions import (
    MAX_OUTBOX,
    Command,
    NodeSession,
    ResultAckCmd,
)
from ffrtmp.master.storage.protocol import StoreError
from ffrtmp.tls.identity import identity_from_auth_context
from ffrtmp.v1 import common_pb2, nodes_pb2, worker_pb2, worker_pb2_grpc

log = logging.getLogger(__name__)

# How long an acknowledgement waits for another message to the same worker (the
# next Assign comes about one group commit after the result's): short enough that
# a worker's heartbeat rarely still lists a result the master already has.
ACK_DELAY_S = 0.05
_FLUSH = ResultAckCmd(Lease("", 0))  # the timer's marker: send the acks still held

def _check_hello(hello: worker_pb2.Hello) -> None:
    c: nodes_pb2.Capabilities = hello.capabilities
    if any(len(k) > 64 or len(v) > 256 for k, v in c.labels.items()):
        raise InvalidArgument("hello.capabilities.labels", "keys ≤ 64 and values ≤ 256 characters")
    if not 1 <= c.slots <= MAX_SLOTS:
        raise InvalidArgument("hello.capabilities.slots", f"must be from 1 to {MAX_SLOTS}")


async def _write(context: Ctx, outbox: Outbox[Command | None]) -> None:
    """Write the session's commands until its None (the reader's, when the worker's
    side closes, or the scheduler's, when it ends the stream). No task per message.

    A ResultAck is not a write of its own: it waits up to ACK_DELAY_S for the next
    command to that worker and rides in it (`result_acks`), usually on the Assign
    of the job that takes the slot the result freed; a timer's marker in the
    outbox sends what still waits alone. The worker only forgets the result on
    it; the result itself was committed before the ack was queued."""
    acks: list[common_pb2.Lease] = []
    timer: asyncio.TimerHandle | None = None
    loop = asyncio.get_running_loop()

    def due() -> None:
        # Never the item that fills the outbox: the session ends the stream on that.
        # Skipped, the acks ride on one of the commands that fill it.
        if outbox.qsize() < MAX_OUTBOX - 1:
            outbox.put_nowait(_FLUSH)

    try:
        while (cmd := await outbox.get()) is not None:
            if type(cmd) is ResultAckCmd:
                if cmd is not _FLUSH:
                    acks.append(wire.lease_pb(cmd.lease))
                    if timer is None or timer.when() <= loop.time():  # none armed
                        timer = loop.call_later(ACK_DELAY_S, due)
                elif acks:
                    await context.write(worker_pb2.MasterMessage(result_acks=acks))
                    acks = []
                continue
            msg = wire.command_pb(cmd)
            if acks:
                msg.result_acks.extend(acks)
                acks = []
                if timer is not None:
                    timer.cancel()
                    timer = None
            await context.write(msg)
        if acks:  # the stream may be going away: best effort, the worker re-offers
            await context.write(worker_pb2.MasterMessage(result_acks=acks))
    finally:
        if timer is not None:
            timer.cancel()


class WorkerServicer(worker_pb2_grpc.WorkerServiceServicer):
    def __init__(
        self, liveness: Liveness, attempts: Attempts, restore: Restore, config: MasterConfig
    ) -> None:
        self.liveness = liveness
        self.attempts = attempts
        self.restore = restore
        self.config = config

    def use(self, scheduler: Scheduler) -> None:
        self.liveness, self.attempts = scheduler.liveness, scheduler.attempts
        self.restore = scheduler.restore

    async def Connect(  # type: ignore[override]
        self, request_iterator: AsyncIterator[worker_pb2.WorkerMessage], context: Ctx
    ) -> None:
        opened = await self._open(request_iterator, context)
        if opened is None:
            return
        session, generation, outbox = opened
        refused: list[InvalidArgument] = []
        reader = asyncio.create_task(
            self._read(session, request_iterator, outbox, refused, generation),
            name="worker-reader",
        )
        try:
            await _write(context, outbox)
        except Exception as exc:
            # The worker stopped, was cut off or went away: an ordinary event (it
            # reconnects), not a servicer failure for grpc to log as an error.
            log.info("node %s stream broke while writing: %s", session.node_id, exc)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
            self.liveness.disconnect(session, generation)
            log.info("node %s stream closed", session.node_id)
        if refused:  # a message over its bounds ends the stream with its status
            raise refused[0]

    async def _open(
        self, request_iterator: AsyncIterator[worker_pb2.WorkerMessage], context: Ctx
    ) -> tuple[NodeSession, int, Outbox[Command | None]] | None:
        """Hello to Welcome. Its own frame: the Hello, the capabilities and the
        lease lists are garbage once the Welcome is sent, not held by every
        stream for its life (a fleet holds thousands)."""
        ident = identity_from_auth_context(context.auth_context())
        if ident.kind != "worker":
            raise PermissionDenied("only a worker certificate may open a worker stream")
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return None
        if first.WhichOneof("kind") != "hello":
            raise FailedPrecondition("the first message on a worker stream must be Hello")
        hello = first.hello
        limits.check(first)
        if hello.node_id and hello.node_id != ident.name:
            raise PermissionDenied(
                f"certificate names node {ident.name!r}, not {hello.node_id[:64]!r}"
            )
        _check_hello(hello)
        self.liveness.check_instance(ident.name, hello.instance[:64])
        # Before its leases are reconciled: a restored master learns here what
        # this worker finished after the backup (scheduling/restore.py).
        await self.restore.reported(
            ident.name, [(wire.lease(r.lease), wire.run_result(r)) for r in hello.finished]
        )
        caps = wire.capabilities(hello.capabilities)
        session, keep, abort = self.liveness.connect(
            ident.name,
            caps,
            hello.capabilities.slots,
            context.peer(),
            [wire.lease(x) for x in hello.running],
            hello.instance[:64],
        )
        generation, outbox = session.generation, session.outbox
        log.info(
            "node %s connected from %s (slots=%d, keeps %d leases)",
            ident.name,
            context.peer(),
            session.slots,
            len(keep),
        )
        cfg = self.config
        await context.write(
            worker_pb2.MasterMessage(
                welcome=worker_pb2.Welcome(
                    node_id=ident.name,
                    heartbeat_interval_s=cfg.heartbeat_interval_s,
                    heartbeat_timeout_s=cfg.heartbeat_timeout_s,
                    stall_timeout_s=cfg.stall_timeout_s,
                    keep=[wire.lease_pb(x) for x in keep],
                    abort=[wire.lease_pb(x) for x in abort],
                )
            )
        )
        return session, generation, outbox

    async def _read(
        self,
        session: NodeSession,
        requests: AsyncIterator[worker_pb2.WorkerMessage],
        outbox: Outbox[Command | None],
        refused: list[InvalidArgument],
        generation: int,
    ) -> None:
        try:
            async for msg in requests:
                if session.generation != generation:
                    # A newer stream of this node took over: what this one still
                    # carries (a heartbeat numbering the old stream's Assigns) is stale.
                    return
                limits.check(msg)
                await self._handle(session, msg)
                del msg  # not held by each idle stream while it waits for the next
        except (asyncio.CancelledError, aio.AioRpcError):
            pass
        except InvalidArgument as exc:
            refused.append(exc)
        except StoreError as exc:  # the stream ends; the worker offers it all again
            log.warning("worker stream of %s ended: the store failed: %s", session.node_id, exc)
        except Exception:
            log.exception("worker stream of %s failed", session.node_id)
        finally:
            outbox.put_nowait(None)

    async def _handle(self, session: NodeSession, msg: worker_pb2.WorkerMessage) -> None:
        self.liveness.touch(session)
        kind = msg.WhichOneof("kind")
        if kind == "heartbeat":
            self.liveness.on_heartbeat(
                session,
                [wire.lease(x) for x in msg.heartbeat.running],
                msg.heartbeat.seq,
                msg.heartbeat.draining,
                msg.heartbeat.assign_seq,
            )
        elif kind == "started":
            await self.attempts.on_started(session, wire.lease(msg.started.lease))
        elif kind == "progress":
            self.attempts.on_progress(
                session, wire.lease(msg.progress.lease), wire.progress(msg.progress.progress)
            )
        elif kind == "result":
            await self.attempts.on_result(
                session, wire.lease(msg.result.lease), wire.run_result(msg.result)
            )
