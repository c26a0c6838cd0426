"""`python -m bench.submit_path [--jobs N] [--callers C] [--distinct]`: figure
(b)'s master path without grpc: `JobServicer.SubmitJob` called with the bench's
own requests (bytes in, reply bytes out) on the real scheduler and a real SQLite
store (`synchronous=FULL`), no workers. Prints the process CPU a submit (the
writer thread included) and the store's commits a submit. `--distinct` gives
every job its own output, so no spec repeats. Less at the mercy of the machine's
load than (b): no sockets, no TLS, no client in the same process."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from tests.helpers.sched import SchedHarness

from bench.cluster import submit_request
from ffrtmp.master.rpc.servicers.jobs import JobServicer
from ffrtmp.v1 import jobs_pb2


async def _run(jobs: int, callers: int, distinct: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        h = SchedHarness(Path(d))
        h.store._synchronous = "FULL"  # as a master runs it (the harness's is NORMAL)
        async with h:
            servicer = JobServicer(h.scheduler)
            ctx = cast(Any, None)  # SubmitJob reads its caller from a context variable
            # Made before the clock starts.
            requests = [submit_request("p", distinct).SerializeToString() for _ in range(jobs)]
            left = iter(requests)

            async def call() -> None:
                for raw in left:
                    req = jobs_pb2.SubmitJobRequest.FromString(raw)
                    reply = await servicer.SubmitJob(req, ctx)
                    reply.SerializeToString()

            batches0 = h.store.batches
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(call() for _ in range(callers)))
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            batches = h.store.batches - batches0
    return {
        "cpu_ms_per_submit": cpu * 1000 / jobs,
        "submits_per_s": jobs / wall,
        "commits_per_submit": batches / jobs,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="bench.submit_path")
    p.add_argument("--jobs", type=int, default=3000)
    p.add_argument("--callers", type=int, default=64)
    p.add_argument("--distinct", action="store_true", help="every job its own output")
    a = p.parse_args()
    r = asyncio.run(_run(a.jobs, a.callers, a.distinct))
    print(f"distinct={a.distinct}  " + "  ".join(f"{k}={v:.3f}" for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()
