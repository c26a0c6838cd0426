"""The worker's job table: the runs it holds, the results the master has not
acknowledged yet, and what the master's commands do to them.

A run is started only while contact with the master is fresh by the rule it is
fenced by (contact.py), and its launcher gets that deadline and every renewal,
so ffmpeg stops by itself when this process stalls. A run fenced here, or by its
launcher, is reported as lost ("fenced: lease L dropped"), a cause the master
does not charge to the job. A finished run's Result is kept until the master
acknowledges it, and re-sent after a reconnect.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Container, Iterable

from ffrtmp import logcontext, tracing, wire
from ffrtmp.core.model import AttemptResult, Lease, Outcome, ProgressInfo
from ffrtmp.lifecycle import Supervisor
from ffrtmp.v1 import worker_pb2
from ffrtmp.wire import lease_pb
from ffrtmp.worker.blobio import Media
from ffrtmp.worker.contact import Contact
from ffrtmp.worker.environment import Environment, Refused
from ffrtmp.worker.execution import Execution, Stop
from ffrtmp.worker.metrics import WorkerMetrics

log = logging.getLogger("ffrtmp.worker")

REMEMBERED_RESULTS = 256  # as many as a Hello may carry (the master's bound)

Send = Callable[[worker_pb2.WorkerMessage], None]


class JobTable:
    def __init__(
        self,
        contact: Contact,
        send: Send,
        metrics: WorkerMetrics,
        tasks: Supervisor,
        *,
        cancel_grace_s: float,
    ) -> None:
        self.contact = contact
        self.send = send
        self.metrics = metrics
        self.tasks = tasks
        self.cancel_grace_s = cancel_grace_s
        self.runs: dict[str, Execution] = {}
        self.unacked: dict[str, worker_pb2.Result] = {}
        # Acknowledged results, newest last, re-offered in Hello: a master restored
        # from a backup that predates them learns they finished (never runs them again).
        self.finished: OrderedDict[str, worker_pb2.Result] = OrderedDict()
        self.env: Environment | None = None  # set once the worker has probed ffmpeg
        self.media: Media | None = None  # blob inputs and stored outputs, when configured
        self.node_id = ""
        self.draining = False
        self.assign_seq = 0  # of the last Assign received, echoed in heartbeats

    @property
    def full(self) -> bool:
        """The input cache refused a run: no new jobs until a run frees room."""
        return self.media is not None and self.media.cache.full

    def held(self, reported: Container[tuple[str, int]] = ()) -> list[Lease]:
        """Leases this worker still holds: running, or with a Result not yet
        acknowledged (except those `reported`)."""
        held = [r.lease for r in self.runs.values() if not r.aborted]
        for r in self.unacked.values():
            if (r.lease.job_id, r.lease.attempt) not in reported:
                held.append(Lease(r.lease.job_id, r.lease.attempt))
        return held

    # -- the master's commands ---------------------------------------------
    def assign(self, a: worker_pb2.Assign) -> None:
        self.assign_seq = max(self.assign_seq, a.seq)
        lease = Lease(a.lease.job_id, a.lease.attempt)
        if lease.job_id in self.runs:
            return  # a repeat of an Assign we already run
        run = Execution(lease, wire.spec(a.spec))
        self.runs[lease.job_id] = run
        self.metrics.running.set(len(self.runs))
        if not self.contact.fresh(time.monotonic()):
            # Held in a partition, it may be older than the master's loss of us.
            self._fence(run, "contact with the master was not fresh when it arrived")
        run.task = self.tasks.start(
            self._execute(run, dict(a.trace_context)), f"job-{lease.job_id}", fatal=False
        )

    def cancel(self, lease: Lease) -> None:
        run = self._run(lease)
        if run is not None:
            stop = run.stop(Stop.CANCEL, grace=self.cancel_grace_s)
            self.tasks.start(stop, "cancel", fatal=False)

    def abort(self, lease: Lease, reason: str) -> None:
        pending = self.unacked.get(lease.job_id)
        if pending is not None and pending.lease.attempt == lease.attempt:
            del self.unacked[lease.job_id]
        run = self._run(lease)
        if run is not None:
            log.warning(
                "job %s attempt %d aborted by the master: %s",
                lease.job_id,
                lease.attempt,
                reason,
                extra={"job_id": lease.job_id, "attempt": lease.attempt},
            )
            self.tasks.start(run.stop(Stop.ABORT), "abort", fatal=False)

    def pause(self, lease: Lease, pause: bool) -> None:
        run = self._run(lease)
        if run is not None:
            self.tasks.start(run.pause() if pause else run.resume(), "pause", fatal=False)

    def acked(self, lease: Lease) -> None:
        pending = self.unacked.get(lease.job_id)
        if pending is not None and pending.lease.attempt == lease.attempt:
            del self.unacked[lease.job_id]
            self.finished[lease.job_id] = pending
            self.finished.move_to_end(lease.job_id)
            while len(self.finished) > REMEMBERED_RESULTS:
                self.finished.popitem(last=False)

    def resend(self, keep: Iterable[Lease]) -> None:
        """After a Welcome: the Results the master still wants."""
        for lease in keep:
            pending = self.unacked.get(lease.job_id)
            if pending is not None and pending.lease.attempt == lease.attempt:
                self.send(worker_pb2.WorkerMessage(result=pending))

    def _run(self, lease: Lease) -> Execution | None:
        run = self.runs.get(lease.job_id)
        return run if run is not None and run.lease.attempt == lease.attempt else None

    # -- fencing (see contact.py) ---------------------------------------------
    def renew(self) -> None:
        """Hand every launcher the deadline the last acknowledged heartbeat allows."""
        deadline = self.contact.fence_deadline()
        for run in self.runs.values():
            if run.ffmpeg is not None and run.stopped is None:
                run.ffmpeg.renew(deadline)

    def fence_if_due(self, now: float) -> None:
        if self.contact.fresh(now):
            return
        for run in list(self.runs.values()):
            if run.stopped is None:
                self._fence(run, f"no word from the master for {self.contact.silence(now):.1f}s")

    def _fence(self, run: Execution, why: str) -> None:
        lease = run.lease
        log.error(
            "fenced: job %s attempt %d dropped: %s",
            lease.job_id,
            lease.attempt,
            why,
            extra={"job_id": lease.job_id, "attempt": lease.attempt},
        )
        self.metrics.fenced.inc()
        self.tasks.start(run.stop(Stop.FENCE, why), "fence", fatal=False)

    async def kill_all(self) -> None:
        for run in list(self.runs.values()):
            await run.stop(Stop.ABORT)

    # -- running ---------------------------------------------------------------
    async def _execute(self, run: Execution, trace_context: dict[str, str]) -> None:
        lease = run.lease
        # This task's log lines (the runner's too) carry the job's fields.
        logcontext.bind(job_id=lease.job_id, attempt=lease.attempt)
        attrs = {"job.id": lease.job_id, "job.attempt": lease.attempt, "node.id": self.node_id}
        with tracing.span("job.run", parent=trace_context, attributes=attrs) as span:
            report = await self._report(run)
            if span is not None:
                span.set_attribute("job.outcome", report.outcome.name.lower())
                if report.outcome == Outcome.FAILED:
                    tracing.set_error(span, report.error[:200])
        if run.aborted:
            return
        if report.error_class == "lost" and run.stopped is None:
            self.metrics.fenced.inc()  # the launcher fenced while this process was away
        log.info(
            "job %s attempt %d: %s (exit %d)%s",
            lease.job_id,
            lease.attempt,
            report.outcome.name,
            report.exit_code,
            f": {report.error[:200]}" if report.error else "",
        )
        result = _result_pb(lease, report)
        self.unacked[lease.job_id] = result
        self.send(worker_pb2.WorkerMessage(result=result))

    async def _report(self, run: Execution) -> AttemptResult:
        assert self.env is not None
        try:
            if self.draining and run.stopped is None:
                raise Refused("the worker is draining")
            return await run.run(
                self.env,
                on_started=lambda pid: self._started(run, pid),
                on_progress=lambda p: self._progress(run, p),
                media=self.media,
            )
        except Refused as exc:
            return AttemptResult(Outcome.FAILED, error_class="transient", error=str(exc))
        except Exception as exc:
            log.exception("job %s could not run", run.lease.job_id)
            return AttemptResult(
                Outcome.FAILED, error_class="permanent", error=f"worker error: {exc}"
            )
        finally:
            self.runs.pop(run.lease.job_id, None)
            self.metrics.running.set(len(self.runs))
            self.metrics.job_ended(run.lease.job_id)

    def _started(self, run: Execution, pid: int) -> None:
        self.send(
            worker_pb2.WorkerMessage(started=worker_pb2.Started(lease=lease_pb(run.lease), pid=pid))
        )

    def _progress(self, run: Execution, p: ProgressInfo) -> None:
        self.metrics.progress(run.lease.job_id, p)
        self.send(
            worker_pb2.WorkerMessage(
                progress=worker_pb2.ProgressReport(
                    lease=lease_pb(run.lease), progress=wire.progress_pb(p)
                )
            )
        )


def _result_pb(lease: Lease, r: AttemptResult) -> worker_pb2.Result:
    return worker_pb2.Result(
        lease=lease_pb(lease),
        outcome=int(r.outcome),  # type: ignore[arg-type]
        exit_code=r.exit_code,
        error_class=r.error_class,
        error=r.error,
        log_tail=r.log_tail,
        output=r.output,
        output_bytes=r.output_bytes,
        output_info=wire.output_info_pb(r.output_info) if r.output_info else None,
    )
