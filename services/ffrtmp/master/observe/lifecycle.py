"""What the master observes when a job changes state: the wait and run
histograms, the job's lifecycle spans (joined to its submit's trace) and a
structured log line carrying job_id, node_id and attempt.

`transition()` is called after each committed change, with the job as it was
*before* the change: the state it leaves and since when it was in it. An
attempt runs from its assignment until its job leaves the active states; a
pause and its resume happen inside it."""

from __future__ import annotations

import logging
from typing import Any

from ffrtmp import tracing
from ffrtmp.core.model import ACTIVE, JobState
from ffrtmp.master.observe.job_traces import JobTraces
from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.storage.protocol import Before

log = logging.getLogger("ffrtmp.master.jobs")

_ROUTINE = frozenset({JobState.QUEUED, JobState.ASSIGNED, JobState.RUNNING})
_ATTEMPT_ENDS = {
    JobState.SUCCEEDED: "succeeded",
    JobState.FAILED: "failed",
    JobState.CANCELED: "canceled",
    JobState.RETRY_WAIT: "retry",
    JobState.QUEUED: "requeued",
}


class JobLifecycle:
    def __init__(self, metrics: MasterMetrics, traces: JobTraces) -> None:
        self.metrics = metrics
        self.traces = traces
        self._assigned_ms: dict[str, int] = {}  # job id -> when its attempt began

    def _span(self, name: str, job_id: str, start_ms: int, end_ms: int, *, queue: str,
              attempt: int, node_id: str, outcome: str = "") -> None:
        """A span of the job's trace for a stretch already over; nothing when the
        master runs without tracing (decided once, in JobTraces)."""
        if not self.traces.on:
            return
        attrs: dict[str, Any] = {"job.id": job_id, "job.queue": queue,
                                 "job.attempt": attempt, "node.id": node_id}
        if outcome:
            attrs["job.outcome"] = outcome
        tracing.record_span(name, parent=self.traces.carrier(job_id),
                            start_ns=start_ms * 1_000_000, end_ns=end_ms * 1_000_000,
                            attributes=attrs)

    def transition(
        self, job: Before, to: JobState, at_ms: int, node_id: str = "", attempt: int = 0
    ) -> None:
        node_id = node_id or job.node_id
        attempt = attempt or job.attempt
        queue = job.queue
        if to == JobState.ASSIGNED and job.state == JobState.QUEUED:
            waited_ms = max(0, at_ms - job.since_ms)
            self.metrics.job_wait_seconds.labels(queue).observe(waited_ms / 1000)
            self._span("job.wait", job.job_id, job.since_ms, at_ms,
                       queue=queue, attempt=attempt, node_id=node_id)
            self._assigned_ms[job.job_id] = at_ms
        elif job.state in ACTIVE and to not in ACTIVE:
            began = self._assigned_ms.pop(job.job_id, job.since_ms)
            outcome = _ATTEMPT_ENDS.get(to, to.name.lower())
            self.metrics.job_run_seconds.labels(queue, outcome).observe(
                max(0, at_ms - began) / 1000
            )
            self._span("job.attempt", job.job_id, began, at_ms, queue=queue, attempt=attempt,
                       node_id=node_id, outcome=outcome)
        if to.terminal:
            self._assigned_ms.pop(job.job_id, None)
            self.traces.forget(job.job_id)
        # Ends of attempts, pauses and resumes are what an operator follows; the
        # rest is detail.
        routine = to in _ROUTINE and JobState.PAUSED not in (job.state, to)
        level = logging.DEBUG if routine else logging.INFO
        if job.state in ACTIVE and to == JobState.QUEUED:
            level = logging.INFO  # re-queued after its node was lost
        log.log(
            level,
            "job %s: %s -> %s",
            job.job_id,
            job.state.name,
            to.name,
            extra={"job_id": job.job_id, "node_id": node_id, "attempt": attempt},
        )
