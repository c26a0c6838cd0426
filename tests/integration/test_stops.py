"""Cancel, abort and fence win at every point of a run's life: before ffmpeg
exists, during the HLS input's audio probe, while ffmpeg is being spawned, and
while it runs. And the job table starts nothing without fresh contact. Real
ffmpeg, a real Execution and JobTable; the master is a list of sent messages."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from ffrtmp.core.model import Lease, Outcome, Rendition
from ffrtmp.lifecycle import Supervisor
from ffrtmp.v1 import worker_pb2
from ffrtmp.wire import lease_pb, spec_pb
from ffrtmp.worker.contact import Contact
from ffrtmp.worker.execution import Execution, Stop
from ffrtmp.worker.jobs import JobTable
from ffrtmp.worker.metrics import WorkerMetrics
from tests.helpers.runs import EXEC_SPEC as SPEC
from tests.helpers.runs import env_for

LONG = replace(SPEC, live=True, duration_s=3600, output="long.mp4")


@pytest.fixture
def silent_http() -> Iterator[str]:
    """An HTTP "server" that accepts and never answers: a probe of it hangs."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}/in.ts"
    finally:
        s.close()


def _ffmpegs_for(job_id: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        if "ffmpeg" in p.info["name"] and any(job_id in a for a in p.info["cmdline"] or ()):
            out.append(p)
    return out


@pytest.mark.parametrize("how", [Stop.CANCEL, Stop.ABORT, Stop.FENCE])
async def test_stop_before_anything_started(tmp_path: Path, how: Stop) -> None:
    run = Execution(Lease("early", 1), LONG)
    await run.stop(how, "test")
    report = await asyncio.wait_for(
        run.run(env_for(tmp_path), on_started=lambda p: None, on_progress=lambda p: None), 10
    )
    assert run.ffmpeg is None or run.ffmpeg.pid is None
    if how is Stop.FENCE:
        assert (report.outcome, report.error_class) == (Outcome.FAILED, "lost")
        assert report.error.startswith("fenced: lease early/1 dropped")
    else:
        assert report.outcome is Outcome.CANCELED


async def test_cancel_during_the_hls_audio_probe(tmp_path: Path, silent_http: str) -> None:
    spec = replace(
        LONG, input=silent_http, output="hls/x/", renditions=(Rendition(160, 90, "100k"),)
    )
    run = Execution(Lease("probing", 1), spec)
    started: list[int] = []
    task = asyncio.create_task(
        run.run(env_for(tmp_path), on_started=started.append, on_progress=lambda p: None)
    )
    await asyncio.sleep(1.0)  # inside the probe, which would wait 30 s for the silent server
    assert not task.done()
    t0 = time.monotonic()
    await run.stop(Stop.CANCEL)
    report = await asyncio.wait_for(task, 10)
    assert report.outcome is Outcome.CANCELED and not started
    assert time.monotonic() - t0 < 5
    for _ in range(40):  # the probe's own ffmpeg goes too
        if not _ffmpegs_for(silent_http):
            break
        await asyncio.sleep(0.05)
    assert not _ffmpegs_for(silent_http)
    assert not list((tmp_path / "out").rglob("*.partial*"))


@pytest.mark.parametrize("how", [Stop.CANCEL, Stop.ABORT, Stop.FENCE])
async def test_stop_while_ffmpeg_is_spawned_or_running(tmp_path: Path, how: Stop) -> None:
    for delay in (0.0, 1.5):  # at once (during the spawn) and once it runs
        job = f"spawn{delay:g}{how.value}"
        run = Execution(Lease(job, 1), LONG)
        task = asyncio.create_task(
            run.run(env_for(tmp_path), on_started=lambda p: None, on_progress=lambda p: None)
        )
        await asyncio.sleep(delay)
        await run.stop(how, "test")
        report = await asyncio.wait_for(task, 15)
        assert report.outcome is (Outcome.FAILED if how is Stop.FENCE else Outcome.CANCELED)
        assert not _ffmpegs_for(job)


async def test_job_table_starts_nothing_without_fresh_contact(tmp_path: Path) -> None:
    sent: list[worker_pb2.WorkerMessage] = []
    contact = Contact()  # never welcomed: nothing acknowledged
    tasks = Supervisor(logging.getLogger("test"))
    table = JobTable(contact, sent.append, WorkerMetrics(), tasks, cancel_grace_s=1)
    table.env = env_for(tmp_path)
    lease = Lease("stale", 1)
    table.assign(worker_pb2.Assign(lease=lease_pb(lease), spec=spec_pb(LONG), seq=1))
    for _ in range(100):
        if any(m.WhichOneof("kind") == "result" for m in sent):
            break
        await asyncio.sleep(0.05)
    kinds = [m.WhichOneof("kind") for m in sent]
    assert kinds == ["result"], kinds  # never "started"
    result = sent[0].result
    assert result.error_class == "lost" and "not fresh" in result.error
    assert table.assign_seq == 1 and not _ffmpegs_for("stale")


async def test_job_table_fences_a_run_when_contact_lapses(tmp_path: Path) -> None:
    sent: list[worker_pb2.WorkerMessage] = []
    contact = Contact()
    contact.welcomed(time.monotonic(), 0.5, 2.0)  # fence deadline 1.5 s from now
    tasks = Supervisor(logging.getLogger("test"))
    table = JobTable(contact, sent.append, WorkerMetrics(), tasks, cancel_grace_s=1)
    table.env = env_for(tmp_path, deadline=contact.fence_deadline)  # as the daemon does
    table.assign(worker_pb2.Assign(lease=lease_pb(Lease("lapse", 1)), spec=spec_pb(LONG), seq=1))
    # Nothing renews: the launcher kills ffmpeg at the deadline by itself.
    try:
        for _ in range(200):
            if any(m.WhichOneof("kind") == "result" for m in sent):
                break
            await asyncio.sleep(0.05)
    finally:
        await table.kill_all()
    [result] = [m.result for m in sent if m.WhichOneof("kind") == "result"]
    assert result.error_class == "lost" and "fenced" in result.error
    assert result.exit_code == -9
    assert not _ffmpegs_for("lapse")
    assert Lease("lapse", 1) in table.held()  # until the master acknowledges the Result
