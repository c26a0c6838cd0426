"""The worker's long-lived parts have the shared Lifecycle shape: the HTTP
endpoint serves between start() and stop(), the session's stop is bounded even
against a master that never answers, and a worker that fails to start ends
what it had begun. (The daemon's signals run in real processes:
tests/faults/test_stops.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ffrtmp.lifecycle import Lifecycle
from ffrtmp.v1 import worker_pb2
from ffrtmp.worker.config import WorkerConfig
from ffrtmp.worker.daemon import Worker
from ffrtmp.worker.ffmpeg import FfmpegNotFound
from ffrtmp.worker.http import WorkerHttp
from ffrtmp.worker.session import Session
from tests.helpers.certs import make_certs


def _get(port: int, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return int(r.status)


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def test_the_http_endpoint_serves_between_start_and_stop() -> None:
    worker = Worker(WorkerConfig(metrics_port=-1))
    http = WorkerHttp("127.0.0.1", 0, worker.registry, lambda: False)
    parts: list[Lifecycle] = [worker, worker.session, http]  # the shape, checked by mypy
    assert [p.name for p in parts] == ["worker", "session", "worker-http"]
    async with http:
        assert await asyncio.to_thread(_get, http.port, "/healthz") == 200
        with pytest.raises(urllib.error.HTTPError) as err:
            await asyncio.to_thread(_get, http.port, "/readyz")
        assert err.value.code == 503
    assert _refused(http.port)
    await http.stop()  # idempotent


async def test_an_endpoint_never_started_stops_at_once() -> None:
    # shutdown() before serve_forever() would wait forever.
    http = WorkerHttp("127.0.0.1", 0, Worker(WorkerConfig()).registry, lambda: True)
    await asyncio.wait_for(http.stop(), 5)
    assert _refused(http.port)


@contextlib.asynccontextmanager
async def _frozen_master() -> AsyncIterator[int]:
    """Accepts connections and never answers (not even the TLS handshake)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for w in held:
            w.close()
        server.close()


async def test_the_session_stop_is_bounded_by_a_master_that_never_answers(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path)
    cert, key = certs.worker("w1")
    async with _frozen_master() as port:
        cfg = WorkerConfig(master=f"127.0.0.1:{port}", ca=certs.ca, cert=cert, key=key)
        w = Worker(cfg)
        session = Session(cfg, w.table, w.contact, w.metrics, worker_pb2.WorkerMessage)
        await session.start()
        await asyncio.sleep(0.3)  # dialling: the stream waits on the frozen master
        assert not session.connected
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.wait_for(session.stop(0.3), 10)
        assert loop.time() - began < 5  # generous: the bound is 0.3 s
        assert not session.background.tasks  # the connect loop ended
        assert not session.background.has_failed
        await session.stopping()  # returns: a stop was asked for


async def test_a_worker_that_fails_to_start_ends_what_it_began(tmp_path: Path) -> None:
    cfg = WorkerConfig(ffmpeg=str(tmp_path / "no-ffmpeg"), metrics_port=-1)
    worker = Worker(cfg)
    with pytest.raises(FfmpegNotFound):
        async with worker:
            raise AssertionError("not reached")
    assert not worker.background.tasks and not worker.session.connected
    await asyncio.wait_for(worker.wait(), 1)  # the stop it did counts as asked for
