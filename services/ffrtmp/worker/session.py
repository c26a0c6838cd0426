"""The worker's stream to the master: Hello and Welcome, heartbeats, the master's
commands (a table from message kind to handler), and reconnecting.

A broken stream is an ordinary event (a master restart, a partition, this process
stopped for a while): the session reconnects after a short, capped and jittered
delay (contact.py) so it reaches a restarted master within the fence window, and
logs it without alarm.

With several masters (`--master a:1,b:2,c:3`) the session follows the leader: a
standby refuses the stream with UNAVAILABLE naming the leader, and the next
attempt goes there at once; with no name it tries the next address after the
usual delay. Runs go on meanwhile, within the fence deadline, and the Hello
re-offers them to the new leader.

A Service: start() begins the connect loop as a supervised task; shutdown()
asks it to end (the stream closes gracefully); stop() waits for that within a
bound and then cancels what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

from ffrtmp import logcontext, wire
from ffrtmp.core.masters import MasterList, hint, parse
from ffrtmp.lifecycle import STOP_MARGIN_S, Service, bounded, wait_event
from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.tls.diagnose import diagnose
from ffrtmp.v1 import worker_pb2, worker_pb2_grpc
from ffrtmp.wire import lease_pb
from ffrtmp.worker.config import WorkerConfig
from ffrtmp.worker.contact import FIRST_RECONNECT_S, Contact, jittered, reconnect_delay
from ffrtmp.worker.jobs import JobTable
from ffrtmp.worker.metrics import WorkerMetrics
from ffrtmp.worker.outbox import Out, ended, outgoing

log = logging.getLogger("ffrtmp.worker")

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
# How a stream ends when the master restarts, the network drops or this process
# was stopped for a while (grpc then reports INTERNAL "Internal error from Core").
EXPECTED = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}

MULTI_RECONNECT_MAX_S = 0.5
WELCOME_TIMEOUT_S = 10.0  # longest wait for a master's Welcome after connecting


class Session(Service):
    STOP_TASKS_S = 0.1  # past the stream's own close: a cancel lands at once

    def __init__(
        self,
        config: WorkerConfig,
        table: JobTable,
        contact: Contact,
        metrics: WorkerMetrics,
        hello: Callable[[], worker_pb2.WorkerMessage],
    ) -> None:
        super().__init__("session", log)
        self.config = config
        self.table = table
        self.contact = contact
        self.metrics = metrics
        self._hello = hello
        self.node_id = ""
        self.stall_timeout = 60.0
        self.drained = False  # by an operator: finish runs, take no new ones
        self.draining = False  # shutting down
        self._out: Out | None = None
        # Results sent on this stream: the master reads it in order, so a heartbeat
        # behind one must not list its lease (an Abort would answer it).
        self._reported: set[tuple[str, int]] = set()
        self._stop = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self.masters = MasterList(parse(config.master))
        # Called with the master's address at each Welcome (the blob channel follows).
        self.on_welcome: list[Callable[[str], None]] = []
        self._direct = False  # a standby named the leader: go there without waiting
        self._stale = False  # this stream's master went silent: try the next one
        self._commands: dict[str, Callable[[worker_pb2.MasterMessage], None]] = {
            "assign": lambda m: self.table.assign(m.assign),
            "cancel": lambda m: self.table.cancel(wire.lease(m.cancel.lease)),
            "abort": lambda m: self.table.abort(wire.lease(m.abort.lease), m.abort.reason),
            "pause": lambda m: self.table.pause(wire.lease(m.pause.lease), True),
            "resume": lambda m: self.table.pause(wire.lease(m.resume.lease), False),
            "drain": self._on_drain,
            "result_ack": lambda m: self.table.acked(wire.lease(m.result_ack.lease)),
            "heartbeat_ack": self._on_heartbeat_ack,
        }

    @property
    def connected(self) -> bool:
        return self._out is not None

    def send(self, msg: worker_pb2.WorkerMessage) -> None:
        if self._out is not None:
            self._out.put_nowait(msg)
            if msg.HasField("result"):
                self._reported.add((msg.result.lease.job_id, msg.result.lease.attempt))

    def close(self) -> None:
        if self._out is not None:
            self._out.put_nowait(None)

    async def start(self) -> None:
        self._loop = self.background.start(self._run(self._stop), "session")

    def shutdown(self) -> None:
        """Ask the connect loop to end: the stream closes, no reconnect follows."""
        self._stop.set()
        self.close()

    async def stopping(self) -> None:
        """Returns once shutdown() was called."""
        await self._stop.wait()

    async def stop(self, within: float = STOP_MARGIN_S) -> None:
        self.shutdown()
        if self._loop is not None:
            await bounded("stream close", asyncio.wait({self._loop}), within)
        await super().stop()

    async def _run(self, stop: asyncio.Event) -> None:
        """Connect, and reconnect, until `stop` is set."""
        creds = channel_credentials(self.config.ca, self.config.cert, self.config.key)
        delay = 0.0
        while not stop.is_set():
            welcomed = await self._once(creds)
            if stop.is_set():
                break
            if self._direct:
                self._direct, delay = False, 0.0
                continue
            # Several masters: each try goes to the next one, so try often (a leader
            # elected meanwhile is found within half a second).
            cap = self.config.reconnect_max_s if len(self.masters) == 1 else min(
                self.config.reconnect_max_s, MULTI_RECONNECT_MAX_S)
            delay = (
                FIRST_RECONNECT_S
                if welcomed
                else reconnect_delay(delay, self.contact.timeout, cap)
            )
            await wait_event(stop, jittered(delay))

    async def _once(self, creds: grpc.ChannelCredentials) -> bool:
        welcomed = False
        out: Out = asyncio.Queue()
        beating: asyncio.Task[None] | None = None
        guard: asyncio.TimerHandle | None = None
        try:
            async with aio.secure_channel(
                self.masters.current, creds, options=CHANNEL_OPTIONS
            ) as channel:
                stub = worker_pb2_grpc.WorkerServiceStub(channel)
                hello_sent = time.monotonic()
                call = stub.Connect(outgoing(out, self._hello()))
                # A frozen master accepts the connection and never answers: with
                # others to try, do not wait on it (one master: keepalives decide).
                if len(self.masters) > 1:
                    guard = asyncio.get_running_loop().call_later(
                        min(self.contact.stale_after(), WELCOME_TIMEOUT_S), self._give_up, call
                    )
                async for msg in call:
                    for acked in msg.result_acks:  # beside any kind, or alone
                        self.table.acked(wire.lease(acked))
                    kind = msg.WhichOneof("kind")
                    if kind == "welcome":
                        if guard is not None:
                            guard.cancel()
                        welcomed = True
                        for hook in self.on_welcome:
                            hook(self.masters.current)
                        self._reported, self._out = set(), out  # a new stream
                        self.metrics.connected.set(1)
                        self._on_welcome(msg.welcome, hello_sent)
                        beating = asyncio.create_task(self._heartbeats(call), name="heartbeat")
                        beating.add_done_callback(lambda t: ended(t, out))
                    elif kind is not None and kind in self._commands:
                        self._commands[kind](msg)
                log.info("master closed the stream; reconnecting")
        except aio.AioRpcError as exc:
            level = logging.INFO if exc.code() in EXPECTED else logging.WARNING
            log.log(
                level, "master stream ended: %s %s; reconnecting", exc.code().name, exc.details()
            )
            if self._stale:
                self._stale = False
                self.masters.follow(None)
            leader = hint(exc.trailing_metadata())
            if exc.code() == grpc.StatusCode.UNAVAILABLE and not welcomed:
                if leader is None and len(self.masters) == 1:
                    self.table.tasks.start(self._explain_unreachable(), "diagnose", fatal=False)
                self._direct = self.masters.follow(leader)
                if leader:
                    log.info("following the leader to %s", self.masters.current)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._stale or task is None or task.cancelling():
                raise
            # Our own cancel of a silent master's stream (grpc may raise either way).
            self._stale = False
            self.masters.follow(None)
        finally:
            if guard is not None:
                guard.cancel()
            self._out = None
            self.metrics.connected.set(0)
            out.put_nowait(None)
            if beating is not None:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
        return welcomed

    def heartbeat(self) -> None:
        seq = self.contact.heartbeat(time.monotonic())
        unacked = {(r.lease.job_id, r.lease.attempt) for r in self.table.unacked.values()}
        self._reported &= unacked
        held = [lease_pb(lease) for lease in self.table.held(self._reported)]
        self.send(
            worker_pb2.WorkerMessage(
                heartbeat=worker_pb2.Heartbeat(
                    running=held,
                    seq=seq,
                    # A full input cache takes no new jobs either, for a while.
                    draining=self.draining or self.table.full,
                    assign_seq=self.table.assign_seq,
                )
            )
        )

    async def _heartbeats(self, call: Any) -> None:
        while True:
            self.heartbeat()
            await asyncio.sleep(self.contact.interval)
            silent = self.contact.silence(time.monotonic())
            if len(self.masters) > 1 and silent > self.contact.stale_after():
                self._give_up(call, f"silent for {silent:.1f}s")
                await asyncio.Event().wait()  # cancelled as the stream unwinds

    def _give_up(self, call: Any, why: str = "no Welcome") -> None:
        log.warning("master %s %s: trying another master", self.masters.current, why)
        self._stale = True
        call.cancel()

    def _on_welcome(self, w: worker_pb2.Welcome, hello_sent: float) -> None:
        self.node_id = self.table.node_id = w.node_id
        logcontext.set_process_field("node_id", w.node_id)
        self.contact.welcomed(hello_sent, w.heartbeat_interval_s, w.heartbeat_timeout_s)
        self.table.assign_seq = 0  # Assigns are numbered per stream
        self.table.renew()
        self.stall_timeout = max(0.0, w.stall_timeout_s)
        log.info(
            "connected to master as %s (heartbeat %.1fs, timeout %.1fs)",
            w.node_id,
            self.contact.interval,
            self.contact.timeout,
        )
        for lease in w.abort:
            self.table.abort(wire.lease(lease), "not current after reconnect")
        self.table.resend(wire.lease(x) for x in w.keep)

    def _on_heartbeat_ack(self, m: worker_pb2.MasterMessage) -> None:
        before = self.contact.last
        self.contact.acked(m.heartbeat_ack.seq)
        if self.contact.last != before:
            self.table.renew()

    async def _explain_unreachable(self) -> None:
        """grpc says only UNAVAILABLE: one handshake of our own names the cause (a
        name missing from the master's certificate, another CA...). Off the
        reconnect path, which a slow or stopped master must not hold up."""
        c = self.config
        paths = {"ca": c.ca, "cert": c.cert, "key": c.key}
        # A short timeout: a shutdown waits for this thread.
        why = await asyncio.to_thread(diagnose, c.master, paths, 2.0)
        if why is not None:
            log.warning("cannot reach the master: %s", why)

    def _on_drain(self, m: worker_pb2.MasterMessage) -> None:
        self.drained = m.drain.drain
        log.info("%s by the master", "drained" if self.drained else "undrained")
