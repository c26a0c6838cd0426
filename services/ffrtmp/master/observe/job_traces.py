"""The trace context of each job's submit, so the job's later spans — its wait
in the queue, each attempt, the worker's run (through `Assign.trace_context`) —
join the submit's trace.

It is taken when the job is inserted: the insert is awaited from the SubmitJob
handler, whose server span is then current, and it happens before the job is
queued, so no dispatch can look for it too early."""

from __future__ import annotations

from collections import OrderedDict

from ffrtmp import tracing


class JobTraces:
    """job id -> W3C trace context; bounded, oldest forgotten first."""

    def __init__(self, limit: int = 100_000, *, on: bool | None = None) -> None:
        self.limit = limit
        self._by_job: OrderedDict[str, dict[str, str]] = OrderedDict()
        # Decided once, as the master decides its RPC tracing at start: asking
        # OpenTelemetry on every transition cost ≈ 3 % of a job's master CPU
        # with no provider installed (docs/PERFORMANCE.md).
        self.on = tracing.enabled() if on is None else on

    def remember_current(self, job_id: str) -> None:
        if not self.on:
            return
        carrier = tracing.inject()
        if not carrier:
            return  # tracing is off
        self._by_job[job_id] = carrier
        self._by_job.move_to_end(job_id)
        while len(self._by_job) > self.limit:
            self._by_job.popitem(last=False)

    def carrier(self, job_id: str) -> dict[str, str]:
        return dict(self._by_job.get(job_id, {}))

    def forget(self, job_id: str) -> None:
        self._by_job.pop(job_id, None)
