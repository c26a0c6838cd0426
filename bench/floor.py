"""What grpc.aio alone costs a SubmitJob-shaped call, with none of the master's
code: `python -m bench.floor [SECONDS] [ROUNDS]` starts one server per variant
in turn (alternated, ROUNDS times) and prints its CPU a call at 64 callers.

Variants, each adding one thing to the one before:
  raw      the echo of (a): raw bytes in and out
  pb       SubmitJobRequest decoded, a SubmitJobResponse the size of the master's encoded
  ctx      + the auth context read on every call (what the authorization reads)
  thread   + the reply waits for a thread to hand a result back (the group commit's
           hand-off, without the commit), answers batched like the writer's
  opts     + the master's server options (keepalive, 8 KiB TLS records)
  master   the real master (SQLite, synchronous=FULL), every call a new job
So `master` minus `opts` is what the master's own code costs a SubmitJob: its
interceptors, the submit and the store."""

from __future__ import annotations

import asyncio
import os
import queue
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import grpc
from grpc import aio
from tests.helpers.certs import Certs, make_certs
from tests.helpers.procs import CpuMeter, Proc

from bench.cluster import start_master, submit_request, wait_leading
from bench.echo import serve_bare
from bench.load import closed_loop
from ffrtmp import eventloop
from ffrtmp.master.rpc.services import SERVER_OPTIONS
from ffrtmp.v1 import common_pb2, jobs_pb2

VARIANTS = ("raw", "pb", "ctx", "thread", "opts")
METHOD = "/ffrtmp.v1.JobService/SubmitJob"


def _reply() -> jobs_pb2.SubmitJobResponse:
    spec = common_pb2.JobSpec(
        scenario="test", output="jobs/0123456789abcdef0123456789abcdef/out.mp4",
        codec="h264", bitrate="500k", width=320, height=240, fps=25, duration_s=2.0,
    )  # fmt: skip
    job = common_pb2.Job(
        id="0123456789abcdef0123456789abcdef", spec=spec, state=common_pb2.JOB_STATE_QUEUED,
        created_unix_ms=1_764_000_000_000, updated_unix_ms=1_764_000_000_000,
        request_id="b-0123456789abcdef0123456789abcdef", owner="bench-client",
    )  # fmt: skip
    return jobs_pb2.SubmitJobResponse(job=job, created=True)


class _Handoff:
    """A thread that answers futures in batches through call_soon_threadsafe."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._q: queue.SimpleQueue[asyncio.Future[None]] = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            batch = [self._q.get()]
            while not self._q.empty():
                batch.append(self._q.get())
            self._loop.call_soon_threadsafe(_resolve, batch)

    def wait(self) -> asyncio.Future[None]:
        fut = self._loop.create_future()
        self._q.put(fut)
        return fut


def _resolve(batch: list[asyncio.Future[None]]) -> None:
    for f in batch:
        if not f.done():
            f.set_result(None)


async def serve(variant: str, certs: Path) -> None:
    reply = _reply()
    handoff = _Handoff(asyncio.get_running_loop()) if variant in ("thread", "opts") else None

    async def raw(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
        return request

    async def pb(
        request: jobs_pb2.SubmitJobRequest, context: aio.ServicerContext[object, object]
    ) -> jobs_pb2.SubmitJobResponse:
        if variant != "pb":
            context.auth_context()
        if handoff is not None:
            await handoff.wait()
        return reply

    method: grpc.RpcMethodHandler[Any, Any]
    if variant == "raw":
        method = grpc.unary_unary_rpc_method_handler(raw)
    else:
        method = grpc.unary_unary_rpc_method_handler(
            pb,
            request_deserializer=jobs_pb2.SubmitJobRequest.FromString,
            response_serializer=jobs_pb2.SubmitJobResponse.SerializeToString,
        )
    service, _, name = METHOD[1:].partition("/")
    handler = grpc.method_handlers_generic_handler(service, {name: method})
    server = aio.server(options=SERVER_OPTIONS) if variant == "opts" else aio.server()
    await serve_bare(server, handler, certs, "floor ready port={port}")


async def _measure(variant: str, root: Path, seconds: float, n: int) -> float:
    cdir = root / "certs"
    c = Certs(cdir) if cdir.exists() else make_certs(cdir)
    if variant == "master":
        master = start_master(root, c, f"master{n}", db=root / f"master{n}.db")
        await wait_leading(c, master.port)
        pid, port, stop = master.pid, master.port, master.stop
    else:
        server = Proc.python("bench.floor", ["serve", variant, str(cdir)], root / f"{variant}.log")
        port = int(server.wait_for(r"floor ready port=(\d+)", 60).group(1))
        pid, stop = server.pid, server.stop
    try:
        async with c.client_channel(port) as ch:
            call: aio.UnaryUnaryMultiCallable[bytes, bytes] = ch.unary_unary(METHOD)
            meter = CpuMeter(pid)
            meter.start()
            # Each call a new request_id, as (b) sends: the master stores every one.
            r = await closed_loop(
                lambda: call(submit_request("b").SerializeToString()),
                concurrency=64,
                seconds=seconds,
            )
            cpu = meter.stop()
    finally:
        stop()
    return cpu * 10 / r.rate


async def main(seconds: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in range(rounds):
            line = []
            for v in (*VARIANTS, "master"):
                ms = await _measure(v, root, seconds, n)
                line.append(f"{v} {ms:.3f} ms")
            print("  ".join(line), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        eventloop.run(
            serve(sys.argv[2], Path(sys.argv[3])), os.environ.get("FFRTMP_EVENT_LOOP") or "auto"
        )
    else:
        args = [float(a) for a in sys.argv[1:3]]
        asyncio.run(main(args[0] if args else 8.0, int(args[1]) if len(args) > 1 else 2))
