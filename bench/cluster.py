"""What every figure needs: worker certificates, a master process, and (with
--profile) a py-spy recording of the master while it is measured."""

from __future__ import annotations

import asyncio
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc import aio
from tests.helpers.certs import Certs
from tests.helpers.procs import Proc, rss_mib
from tests.helpers.simworker import worker_name

from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc

READY = r"ffrtmp-master ready port=(\d+) metrics_port=(\d+)"

# BENCH_MALLOC=jemalloc preloads Debian's libjemalloc2 (`make benchtools`
# installs it) into the masters the bench starts: ≈ 5 KiB less a worker stream
# than glibc's malloc, but 8-40 % more master CPU a MB of blob transfer, so
# opt-in, as in the systemd unit (docs/PERFORMANCE.md, (f)).
JEMALLOC = (
    ctypes.util.find_library("jemalloc") if os.environ.get("BENCH_MALLOC") == "jemalloc" else None
)


def allocator() -> str:
    return "jemalloc" if JEMALLOC else "glibc"


def python_argv(module: str, args: list[str]) -> list[str]:
    """`python -m module args`, with the master's allocator preloaded (`env`
    execs the interpreter: the pid is the server's)."""
    argv = [sys.executable, "-m", module, *args]
    return ["env", f"LD_PRELOAD={JEMALLOC}", *argv] if JEMALLOC else argv


def ensure_workers(certs: Certs, n: int) -> None:
    """Node id = certificate CN, so each simulated worker needs its own. Issued
    from threads: each pair is written with fsyncs, which dominate (≈ 50 ms here),
    and 10,000 of them one after another would take minutes."""
    missing = [worker_name(i) for i in range(n)]
    missing = [m for m in missing if not (certs.dir / f"{m}.crt").exists()]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(certs.worker, missing))


@dataclass
class Master:
    proc: Proc
    port: int
    ready_s: float  # from spawn to the ready line

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        return rss_mib(self.pid)

    def stop(self) -> None:
        # A short grace: its graceful shutdown is not what is measured, and a
        # master that lingers after SIGTERM would only slow the run down.
        self.proc.stop(timeout=3)


def start_master(
    root: Path,
    certs: Certs,
    name: str,
    *extra: str,
    db: Path | str | None = None,
    timeout: float = 120,
    on_spawn: Callable[[int], None] | None = None,
) -> Master:
    """A master on a fresh (or the given) database, defaults otherwise: WAL and
    synchronous=FULL, as an operator would run it. `on_spawn` gets the pid at once
    (to attach a profiler before start-up work begins)."""
    db = db or root / f"{name}.db"
    c = certs.dir
    args = [
        "--listen", "127.0.0.1:0",
        "--metrics-port", "0",
        "--metrics-host", "127.0.0.1",
        "--db", str(db),
        "--ca", str(certs.ca),
        "--cert", str(c / "master.crt"),
        "--key", str(c / "master.key"),
        *extra,
    ]  # fmt: skip
    proc = Proc(python_argv("ffrtmp.master.main", args), root / f"{name}.log")
    if on_spawn is not None:
        on_spawn(proc.pid)
    at, m = proc.wait_for_at(READY, timeout)
    return Master(proc, int(m.group(1)), at - proc.spawned)


async def wait_leading(certs: Certs, port: int, within_s: float = 60) -> None:
    """A master on PostgreSQL serves jobs once it holds the leader lease; a
    standby answers UNAVAILABLE until then."""
    deadline = time.monotonic() + within_s
    async with certs.client_channel(port) as ch:
        stub = jobs_pb2_grpc.JobServiceStub(ch)
        while True:
            try:
                await stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=1), timeout=5)
                return
            except aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.1)


# `bench.run --distinct-specs`: every job its own output, so no spec repeats and
# the master resolves each one (a spec sent again is resolved once).
DISTINCT_SPECS = "FFRTMP_BENCH_DISTINCT_SPECS"


def submit_request(tag: str, distinct: bool | None = None) -> jobs_pb2.SubmitJobRequest:
    """The smallest real job: the "test" scenario, a request_id never used before;
    `distinct` (default: --distinct-specs) gives it an output of its own."""
    unique = uuid.uuid4().hex
    if distinct is None:
        distinct = bool(os.environ.get(DISTINCT_SPECS))
    output = f"bench/{unique}.mp4" if distinct else ""
    return jobs_pb2.SubmitJobRequest(
        spec=common_pb2.JobSpec(scenario="test", output=output), request_id=f"{tag}-{unique}"
    )


Spy = subprocess.Popen[bytes] | None


class Profiler:
    """py-spy on a pid for the span of a figure's measurement; no-op without a dir.
    Raw (collapsed) stacks, so the hot functions can be counted with a script."""

    def __init__(self, out: Path | None, flags: tuple[str, ...] = ()) -> None:
        self.out = out
        self.flags = flags  # e.g. --native (C frames), --gil (only the GIL holder)
        self._spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

    def start(self, pid: int, name: str) -> Spy:
        if self.out is None:
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        argv = [self._spy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw"]
        argv += ["-o", str(self.out / f"{name}.txt")]
        argv += self.flags
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def finish(spy: Spy) -> None:
        if spy is None:
            return
        # py-spy writes its file on SIGINT, as after Ctrl-C.
        if spy.poll() is None:
            os.kill(spy.pid, signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(spy.pid, signal.SIGKILL)
            spy.wait(5)
