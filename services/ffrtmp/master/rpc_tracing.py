"""A server span per RPC (OpenTelemetry, optional), child of the caller's span
when its metadata carries a W3C `traceparent`.

It also remembers, per job, the trace context of the SubmitJob span that created
it, so the job's later spans — its wait in the queue, each attempt, the worker's
run (via `Assign.trace_context`) — join the submit's trace."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ffrtmp import tracing
from ffrtmp.master.handlers import Call, Ctx, ObservingInterceptor
from ffrtmp.master.rpc_metrics import final_code

SUBMIT = "/ffrtmp.v1.JobService/SubmitJob"


class JobTraces:
    """job id -> trace context of its submit; bounded, oldest forgotten first."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._by_job: OrderedDict[str, dict[str, str]] = OrderedDict()

    def remember(self, job_id: str, carrier: dict[str, str]) -> None:
        if not carrier or job_id in self._by_job:
            return  # a repeated request_id keeps the trace of the first submit
        self._by_job[job_id] = carrier
        self._by_job.move_to_end(job_id)
        while len(self._by_job) > self.limit:
            self._by_job.popitem(last=False)

    def carrier(self, job_id: str) -> dict[str, str]:
        return dict(self._by_job.get(job_id, {}))

    def forget(self, job_id: str) -> None:
        self._by_job.pop(job_id, None)


def _metadata(context: Ctx) -> dict[str, str]:
    md: Any = context.invocation_metadata() or ()
    return {k: v for k, v in md if isinstance(v, str) and k in ("traceparent", "tracestate")}


class RpcTracingInterceptor(ObservingInterceptor):
    def __init__(self, traces: JobTraces) -> None:
        self.traces = traces

    @asynccontextmanager
    async def around(self, method: str, context: Ctx) -> AsyncIterator[Call]:
        service, _, name = method.lstrip("/").partition("/")
        attrs = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}
        with tracing.span(
            method.lstrip("/"), parent=_metadata(context), kind="server", attributes=attrs
        ) as span:
            call = Call()
            exc: BaseException | None = None
            try:
                yield call
            except BaseException as e:
                exc = e
                raise
            finally:
                code = final_code(context, exc)
                if span is not None:
                    span.set_attribute("rpc.grpc.status_code", code)
                    if code != "OK":
                        tracing.set_error(span, code)
                job = getattr(call.response, "job", None)
                if method == SUBMIT and job is not None and job.id:
                    self.traces.remember(job.id, tracing.inject())
