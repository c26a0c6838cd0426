"""`python -m bench.stream_msgs [--jobs N] [--workers W] [--callers C]`: what
the master writes on the worker streams per job, and its CPU a job. A real
master (mTLS, SQLite with `synchronous=FULL`), W one-slot simulated workers in
this process that count every message they receive, C callers submitting N
no-op jobs. Prints the master's messages a job, how many result
acknowledgements rode on another message, and the master's CPU a job over the
run (submits included)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from grpc import aio
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.procs import cpu_seconds
from tests.helpers.simworker import CHANNEL_OPTIONS, ENCODERS, SimWorker, start_fleet

from ffrtmp.tls.credentials import channel_credentials
from ffrtmp.v1 import common_pb2, nodes_pb2, worker_pb2, worker_pb2_grpc

seen: Counter[str] = Counter()


class CountingWorker(SimWorker):
    """A SimWorker that counts what the master sends it (and sends no heartbeats)."""

    async def run(self) -> None:
        caps = nodes_pb2.Capabilities(encoders=list(ENCODERS), slots=self.slots)
        hello = worker_pb2.Hello(node_id=self.name, capabilities=caps)
        self._send(worker_pb2.WorkerMessage(hello=hello))
        async with aio.secure_channel(self.target, self.creds, options=CHANNEL_OPTIONS) as ch:
            call = worker_pb2_grpc.WorkerServiceStub(ch).Connect(self._requests())
            try:
                async for msg in call:
                    kind = msg.WhichOneof("kind")
                    seen["messages"] += 1
                    acks = len(getattr(msg, "result_acks", ()))  # absent before
                    if kind == "result_ack":
                        acks = 1
                    seen["acks"] += acks
                    if acks and kind not in (None, "result_ack"):
                        seen["acks_riding"] += acks
                    if kind == "assign":
                        self._on_assign(msg.assign)
                    elif kind == "welcome":
                        self.welcomed.set()
            finally:
                self._out.put_nowait(None)


async def _run(jobs: int, workers: int, callers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        c = Cluster(root, make_certs(root / "certs"))
        c.start_master("--heartbeat-interval", "30s", "--heartbeat-timeout", "2m")
        assert c.master is not None
        try:
            fleet = []
            for i in range(workers):
                cert, key = c.certs.worker(f"sw{i:04d}")
                creds = channel_credentials(c.certs.ca, cert, key)
                fleet.append(CountingWorker(f"sw{i:04d}", c.address, creds))
            tasks = await start_fleet(fleet)
            seen.clear()
            cpu0, left = cpu_seconds(c.master.pid), jobs
            async with c.client() as client:

                async def caller() -> None:
                    nonlocal left
                    while left > 0:
                        left -= 1
                        await client.submit(common_pb2.JobSpec(scenario="test"))

                await asyncio.gather(*(caller() for _ in range(callers)))
                deadline = time.monotonic() + 300
                while seen["acks"] < jobs and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)  # the last acknowledgements, held up to 50 ms
            cpu = cpu_seconds(c.master.pid) - cpu0
            for t in tasks:
                t.cancel()
        finally:
            c.stop()
    return {
        "master_messages_per_job": seen["messages"] / jobs,
        "acks_riding_share": seen["acks_riding"] / max(1, seen["acks"]),
        "master_cpu_ms_per_job": cpu * 1000 / jobs,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=3000)
    p.add_argument("--workers", type=int, default=100)
    p.add_argument("--callers", type=int, default=32)
    a = p.parse_args()
    for k, v in asyncio.run(_run(a.jobs, a.workers, a.callers)).items():
        print(f"{k:28} {v:.3f}")


if __name__ == "__main__":
    main()
