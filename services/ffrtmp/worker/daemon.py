"""The worker daemon: one stream to the master, one ffmpeg per assigned lease.

The worker keeps its runs going while it reconnects and re-offers their leases
in Hello. It fences itself: when the master has not acknowledged a heartbeat
for long enough that the master may already have declared it lost, it kills
its runs, so a job never runs on two workers at once. A finished run's Result
is kept until the master acknowledges it, and re-sent after a reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import grpc
from grpc import aio

from ffrtmp import logcontext, logsetup, tracing, wire
from ffrtmp.core.model import Lease, Outcome, ProgressInfo
from ffrtmp.lifecycle import wait_event
from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.tls.diagnose import diagnose
from ffrtmp.v1 import worker_pb2, worker_pb2_grpc
from ffrtmp.wire import lease_pb
from ffrtmp.worker.config import WorkerConfig
from ffrtmp.worker.contact import Contact
from ffrtmp.worker.execution import Environment, Execution, Refused, Report, sweep_partials
from ffrtmp.worker.ffmpeg import find_ffmpeg
from ffrtmp.worker.http import WorkerHttp
from ffrtmp.worker.metrics import WorkerMetrics
from ffrtmp.worker.probe import Capabilities, probe_capabilities

REMEMBERED_RESULTS = 256  # as many as a Hello may carry (the master's bound)

log = logging.getLogger("ffrtmp.worker")

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


class Worker:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.runs: dict[str, Execution] = {}
        self.unacked: dict[str, worker_pb2.Result] = {}
        # Acknowledged results, newest last, re-offered in Hello: a master restored
        # from a backup that predates them learns they finished (never runs them again).
        self.finished: OrderedDict[str, worker_pb2.Result] = OrderedDict()
        self.caps: Capabilities | None = None
        self.ffmpeg = ""
        self.draining = False  # shutting down: finish runs, then exit
        self.drained = False  # drained by an operator: finish runs, take no new ones
        self.node_id = ""
        self.metrics_port = 0
        self.contact = Contact()
        self.stall_timeout = 60.0
        self._out: asyncio.Queue[worker_pb2.WorkerMessage | None] | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.metrics = WorkerMetrics()
        self.registry = self.metrics.registry
        self._http: WorkerHttp | None = None

    # -- lifecycle -------------------------------------------------------
    async def run(self) -> None:
        self.ffmpeg = find_ffmpeg(self.config.ffmpeg)
        self.caps = await probe_capabilities(self.ffmpeg)
        self.config.output_root.mkdir(parents=True, exist_ok=True)
        swept = sweep_partials(self.config.output_root)
        if swept:
            log.info("removed %d partial outputs of runs from before this start", swept)
        if self.config.metrics_port >= 0:
            self._http = WorkerHttp(
                self.config.metrics_host,
                self.config.metrics_port,
                self.registry,
                lambda: self.ready,
            )
            self._http.start()
            self.metrics_port = self._http.port
        log.info(
            "worker using %s (%s), %d slots, metrics on :%d",
            self.ffmpeg,
            self.caps.ffmpeg_version,
            self.config.slots,
            self.metrics_port,
        )
        logsetup.ready(f"ffrtmp-worker ready metrics_port={self.metrics_port}")
        fence = asyncio.create_task(self._fence_loop(), name="fence")
        creds = channel_credentials(self.config.ca, self.config.cert, self.config.key)
        delay = 0.5
        try:
            while not self._stop.is_set():
                welcomed = await self._session(creds)
                if self._stop.is_set():
                    break
                delay = 0.5 if welcomed else min(delay * 2, self.config.reconnect_max_s)
                await wait_event(self._stop, delay * random.uniform(0.8, 1.2))
        finally:
            fence.cancel()
            if self._http is not None:
                self._http.stop()
            for r in list(self.runs.values()):
                if r.ffmpeg is not None:
                    await r.ffmpeg.kill()

    async def drain(self) -> None:
        """Take no new jobs, let the running ones finish, then stop."""
        if self.draining:
            return
        self.draining = True
        self.metrics.draining.set(1)
        log.info("draining: %d runs to finish", len(self.runs))
        self._heartbeat()
        while self.runs or self.unacked:
            await asyncio.sleep(0.2)
            if not self.runs and self._out is None:
                break  # results cannot be delivered without a master; they are re-offered
        self.stop()

    @property
    def ready(self) -> bool:
        """For /readyz: connected to the master and taking jobs."""
        return self._out is not None and not self.draining and not self.drained

    def stop(self) -> None:
        self._stop.set()
        if self._out is not None:
            self._out.put_nowait(None)

    # -- the stream ------------------------------------------------------
    async def _session(self, creds: grpc.ChannelCredentials) -> bool:
        welcomed = False
        out: asyncio.Queue[worker_pb2.WorkerMessage | None] = asyncio.Queue()
        hb: asyncio.Task[None] | None = None
        try:
            async with aio.secure_channel(
                self.config.master, creds, options=CHANNEL_OPTIONS
            ) as channel:
                stub = worker_pb2_grpc.WorkerServiceStub(channel)
                hello_sent = time.monotonic()
                call = stub.Connect(self._outgoing(out, self._hello()))
                async for msg in call:
                    kind = msg.WhichOneof("kind")
                    if kind == "welcome":
                        welcomed = True
                        self._out = out
                        self.metrics.connected.set(1)
                        self._on_welcome(msg.welcome, hello_sent)
                        hb = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
                    elif kind == "assign":
                        self._on_assign(msg.assign)
                    elif kind == "cancel":
                        self._on_cancel(msg.cancel.lease.job_id, msg.cancel.lease.attempt)
                    elif kind == "abort":
                        self._on_abort(
                            msg.abort.lease.job_id, msg.abort.lease.attempt, msg.abort.reason
                        )
                    elif kind in ("pause", "resume"):
                        lease = getattr(msg, kind).lease
                        run = self.runs.get(lease.job_id)
                        if run is not None and run.lease.attempt == lease.attempt:
                            self._background(run.pause() if kind == "pause" else run.resume())
                    elif kind == "drain":
                        self.drained = msg.drain.drain
                        log.info("%s by the master", "drained" if self.drained else "undrained")
                    elif kind == "result_ack":
                        self._remember(self.unacked.pop(msg.result_ack.lease.job_id, None))
                    elif kind == "heartbeat_ack":
                        self.contact.acked(msg.heartbeat_ack.seq)
                log.warning("master closed the stream")
        except aio.AioRpcError as exc:
            log.warning("master stream: %s %s", exc.code().name, exc.details())
            if exc.code() == grpc.StatusCode.UNAVAILABLE and not welcomed:
                self._background(self._explain_unreachable())
        finally:
            self._out = None
            self.metrics.connected.set(0)
            out.put_nowait(None)
            if hb is not None:
                hb.cancel()
        return welcomed

    async def _outgoing(
        self, out: asyncio.Queue[worker_pb2.WorkerMessage | None], hello: worker_pb2.WorkerMessage
    ) -> AsyncIterator[worker_pb2.WorkerMessage]:
        yield hello
        while (msg := await out.get()) is not None:
            yield msg

    def _hello(self) -> worker_pb2.WorkerMessage:
        assert self.caps is not None
        cfg = self.config
        hello = wire.hello_pb(
            self.caps,
            labels=cfg.labels,
            slots=cfg.slots,
            allow_raw_args=cfg.allow_raw_args,
            running=self._held(),
        )
        # Acknowledged results too: a master restored from a backup learns from them.
        hello.hello.finished.extend(self.finished.values())
        return hello

    def _remember(self, result: worker_pb2.Result | None) -> None:
        if result is None:
            return
        self.finished[result.lease.job_id] = result
        self.finished.move_to_end(result.lease.job_id)
        while len(self.finished) > REMEMBERED_RESULTS:
            self.finished.popitem(last=False)

    def _held(self) -> list[Lease]:
        held = [r.lease for r in self.runs.values() if not r.aborted]
        held += [Lease(r.lease.job_id, r.lease.attempt) for r in self.unacked.values()]
        return held

    def _send(self, msg: worker_pb2.WorkerMessage) -> None:
        if self._out is not None:
            self._out.put_nowait(msg)

    def _heartbeat(self) -> None:
        seq = self.contact.heartbeat(time.monotonic())
        held = [lease_pb(lease) for lease in self._held()]
        self._send(
            worker_pb2.WorkerMessage(
                heartbeat=worker_pb2.Heartbeat(running=held, seq=seq, draining=self.draining)
            )
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat()
            await asyncio.sleep(self.contact.interval)

    # -- master's commands -----------------------------------------------
    def _on_welcome(self, w: worker_pb2.Welcome, hello_sent: float) -> None:
        self.node_id = w.node_id
        logcontext.set_process_field("node_id", w.node_id)
        self.contact.welcomed(hello_sent, w.heartbeat_interval_s, w.heartbeat_timeout_s)
        self.stall_timeout = max(0.0, w.stall_timeout_s)
        log.info(
            "connected to master as %s (heartbeat %.1fs, timeout %.1fs)",
            w.node_id,
            self.contact.interval,
            self.contact.timeout,
        )
        for lease in w.abort:
            self._on_abort(lease.job_id, lease.attempt, "not current after reconnect")
        for lease in w.keep:
            pending = self.unacked.get(lease.job_id)
            if pending is not None and pending.lease.attempt == lease.attempt:
                self._send(worker_pb2.WorkerMessage(result=pending))

    def _on_assign(self, a: worker_pb2.Assign) -> None:
        lease = Lease(a.lease.job_id, a.lease.attempt)
        if lease.job_id in self.runs:
            return  # a repeat of an Assign we already run
        run = Execution(lease, wire.spec(a.spec))
        self.runs[lease.job_id] = run
        self.metrics.running.set(len(self.runs))
        trace_context = dict(a.trace_context)
        run.task = asyncio.create_task(
            self._execute(run, trace_context), name=f"job-{lease.job_id}"
        )

    def _on_cancel(self, job_id: str, attempt: int) -> None:
        run = self.runs.get(job_id)
        if run is not None and run.lease.attempt == attempt and run.ffmpeg is not None:
            self._background(run.ffmpeg.cancel(self.config.cancel_grace_s))

    def _on_abort(self, job_id: str, attempt: int, reason: str) -> None:
        pending = self.unacked.get(job_id)
        if pending is not None and pending.lease.attempt == attempt:
            del self.unacked[job_id]
        run = self.runs.get(job_id)
        if run is not None and run.lease.attempt == attempt:
            log.warning(
                "job %s attempt %d aborted by the master: %s",
                job_id,
                attempt,
                reason,
                extra={"job_id": job_id, "attempt": attempt},
            )
            run.aborted = True
            if run.ffmpeg is not None:
                self._background(run.ffmpeg.kill())

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

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)

    # -- running ffmpeg --------------------------------------------------
    async def _execute(self, run: Execution, trace_context: dict[str, str]) -> None:
        lease = run.lease
        # This task's log lines (the runner's too) carry the job's fields.
        logcontext.bind(job_id=lease.job_id, attempt=lease.attempt)
        attrs = {"job.id": lease.job_id, "job.attempt": lease.attempt, "node.id": self.node_id}
        with tracing.span("job.run", parent=trace_context, attributes=attrs) as span:
            report = await self._run_ffmpeg(run)
            if span is not None:
                span.set_attribute("job.outcome", report.outcome.name.lower())
                if report.outcome == Outcome.FAILED:
                    tracing.set_error(span, report.error[:200])
        if run.aborted:
            return
        log.info(
            "job %s attempt %d: %s (exit %d)",
            lease.job_id,
            lease.attempt,
            report.outcome.name,
            report.exit_code,
        )
        result = worker_pb2.Result(
            lease=lease_pb(lease),
            outcome=int(report.outcome),  # type: ignore[arg-type]
            exit_code=report.exit_code,
            error_class=report.error_class,
            error=report.error,
            log_tail=report.log_tail,
            output=report.output,
            output_bytes=report.output_bytes,
            output_info=wire.output_info_pb(report.output_info) if report.output_info else None,
        )
        self.unacked[lease.job_id] = result
        self._send(worker_pb2.WorkerMessage(result=result))

    async def _run_ffmpeg(self, run: Execution) -> Report:
        assert self.caps is not None
        env = Environment(
            self.ffmpeg,
            self.caps.encoders,
            self.config.input_root,
            self.config.output_root,
            self.config.rtmp_base,
            lambda: self.stall_timeout,
            min_free_bytes=self.config.min_free_disk_bytes,
            nice=self.config.ffmpeg_nice,
            allow_raw_args=self.config.allow_raw_args,
        )
        try:
            if self.draining:
                raise Refused("the worker is draining")
            return await run.run(
                env,
                on_started=lambda pid: self._started(run, pid),
                on_progress=lambda p: self._progress(run, p),
            )
        except Refused as exc:
            return Report(Outcome.FAILED, error_class="transient", error=str(exc))
        except Exception as exc:
            log.exception("job %s could not run", run.lease.job_id)
            return Report(Outcome.FAILED, error_class="permanent", error=f"worker error: {exc}")
        finally:
            self.runs.pop(run.lease.job_id, None)
            self.metrics.running.set(len(self.runs))
            self.metrics.job_ended(run.lease.job_id)

    def _started(self, run: Execution, pid: int) -> None:
        self._send(
            worker_pb2.WorkerMessage(started=worker_pb2.Started(lease=lease_pb(run.lease), pid=pid))
        )

    def _progress(self, run: Execution, p: ProgressInfo) -> None:
        self.metrics.progress(run.lease.job_id, p)
        self._send(
            worker_pb2.WorkerMessage(
                progress=worker_pb2.ProgressReport(
                    lease=lease_pb(run.lease), progress=wire.progress_pb(p)
                )
            )
        )

    # -- self-fencing (see contact.py) ------------------------------------
    async def _fence_loop(self) -> None:
        while True:
            await asyncio.sleep(min(0.5, self.contact.interval))
            deadline = self.contact.fence_deadline()
            if deadline is None or time.monotonic() < deadline or not self.runs:
                continue
            log.error(
                "no word from the master since %.1fs: fencing, killing %d runs",
                time.monotonic() - (self.contact.last or 0.0),
                len(self.runs),
            )
            for run in list(self.runs.values()):
                run.aborted = True
                if run.ffmpeg is not None:
                    await run.ffmpeg.kill()
                log.error(
                    "fenced: killed job %s attempt %d",
                    run.lease.job_id,
                    run.lease.attempt,
                    extra={"job_id": run.lease.job_id, "attempt": run.lease.attempt},
                )
