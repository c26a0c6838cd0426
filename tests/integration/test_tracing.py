"""OpenTelemetry: a span per RPC (child of the caller's), the job's lifecycle
spans in the submit's trace, and the worker's run span a child of the submit —
with the SDK's in-memory exporter, master and worker in this process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from grpc import aio

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from ffrtmp.master.config import MasterConfig
from ffrtmp.master.server import Master
from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc
from ffrtmp.worker.config import WorkerConfig
from ffrtmp.worker.daemon import Worker
from tests.helpers.cluster import make_certs

EXPORTER = InMemorySpanExporter()
CURRENT: dict[str, Master] = {}


@pytest.fixture(scope="module", autouse=True)
def provider() -> Iterator[None]:
    # The global provider can be set once per process; tests share the exporter.
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(EXPORTER))
    trace.set_tracer_provider(p)
    yield


@pytest.fixture
async def traced_job(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    EXPORTER.clear()
    certs = make_certs(tmp_path / "certs")
    master = Master(
        MasterConfig(
            listen="127.0.0.1:0",
            metrics_port=-1,
            db=tmp_path / "m.db",
            ca=certs.ca,
            cert=certs.dir / "master.crt",
            key=certs.dir / "master.key",
        )
    )
    await master.start()
    CURRENT["master"] = master
    cert, key = certs.worker("w1")
    worker = Worker(
        WorkerConfig(
            master=f"127.0.0.1:{master.port}",
            ca=certs.ca,
            cert=cert,
            key=key,
            metrics_port=-1,
            input_root=tmp_path,
            output_root=tmp_path / "out",
        )
    )
    await worker.start()
    admin_cert, admin_key = certs.pair("admin")
    creds = channel_credentials(certs.ca, admin_cert, admin_key)
    try:
        async with aio.secure_channel(f"127.0.0.1:{master.port}", creds) as ch:
            stub = jobs_pb2_grpc.JobServiceStub(ch)
            tracer = trace.get_tracer("test")
            with tracer.start_as_current_span("client.submit") as client_span:
                carrier: dict[str, str] = {}
                propagate.inject(carrier)
                resp = await stub.SubmitJob(
                    jobs_pb2.SubmitJobRequest(
                        spec=common_pb2.JobSpec(scenario="test", duration_s=0.3),
                        request_id="trace-1",
                    ),
                    metadata=tuple(carrier.items()),
                    timeout=10,
                )
            watch = stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=resp.job.id), timeout=60)
            last = None
            async for update in watch:
                last = update.job.state
            assert last == common_pb2.JOB_STATE_SUCCEEDED
        for _ in range(50):  # the run span ends just after the result is sent
            if any(s.name == "job.run" for s in EXPORTER.get_finished_spans()):
                break
            await asyncio.sleep(0.05)
        yield {"job_id": resp.job.id, "client": client_span.get_span_context()}
    finally:
        await asyncio.wait_for(worker.stop(), 15)
        await master.stop(0.5)


def _by_name(name: str) -> list[Any]:
    return [s for s in EXPORTER.get_finished_spans() if s.name == name]


async def test_rpc_and_lifecycle_spans_join_the_callers_trace(traced_job: dict[str, Any]) -> None:
    client = traced_job["client"]
    (submit,) = _by_name("ffrtmp.v1.JobService/SubmitJob")
    assert submit.kind == trace.SpanKind.SERVER
    assert submit.context.trace_id == client.trace_id
    assert submit.parent.span_id == client.span_id
    assert submit.attributes["rpc.grpc.status_code"] == "OK"
    (wait,) = _by_name("job.wait")
    (attempt,) = _by_name("job.attempt")
    for s in (wait, attempt):
        assert s.context.trace_id == client.trace_id
        assert s.parent.span_id == submit.context.span_id
        assert s.attributes["job.id"] == traced_job["job_id"]
    assert attempt.attributes["job.outcome"] == "succeeded"
    assert wait.end_time <= attempt.start_time + 1_000_000  # ms precision of the store


async def test_worker_run_span_is_a_child_of_the_submit(traced_job: dict[str, Any]) -> None:
    (submit,) = _by_name("ffrtmp.v1.JobService/SubmitJob")
    (run,) = _by_name("job.run")
    assert run.context.trace_id == submit.context.trace_id
    assert run.parent is not None and run.parent.span_id == submit.context.span_id
    assert run.attributes["job.id"] == traced_job["job_id"]
    assert run.attributes["node.id"] == "w1"
    assert run.attributes["job.outcome"] == "succeeded"


async def test_worker_joins_the_trace_context_sent_in_assign(traced_job: dict[str, Any]) -> None:
    # The real dispatch puts the submit's context in Assign; nothing is patched in.
    (submit,) = _by_name("ffrtmp.v1.JobService/SubmitJob")
    (run,) = _by_name("job.run")
    assert run.parent is not None and run.parent.span_id == submit.context.span_id
    assert run.context.trace_id == traced_job["client"].trace_id


def test_everything_works_without_opentelemetry() -> None:
    # Hide the package as if the extra were not installed, then use each entry point.
    code = textwrap.dedent(
        """
        import sys
        class Hide:
            def find_spec(self, name, path=None, target=None):
                if name == "opentelemetry" or name.startswith("opentelemetry."):
                    raise ImportError(name)
        sys.meta_path.insert(0, Hide())
        from ffrtmp import tracing
        import ffrtmp.master.server, ffrtmp.worker.daemon, ffrtmp.master.main
        assert not tracing.available() and tracing.inject() == {}
        parent = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
        with tracing.span("x", parent=parent) as s:
            assert s is None
        tracing.record_span("y", parent=None, start_ns=0, end_ns=1)
        tracing.setup("ffrtmp-master", "none")
        try:
            tracing.setup("ffrtmp-master", "console")
        except SystemExit as e:
            assert "ffrtmp[otel]" in str(e)
        else:
            raise AssertionError("console exporter without OpenTelemetry")
        print("ok")
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
