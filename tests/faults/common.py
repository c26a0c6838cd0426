"""Helpers for fault tests: waiting on job states and reading worker logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import urllib.request

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster

TERMINAL = {
    common_pb2.JOB_STATE_SUCCEEDED,
    common_pb2.JOB_STATE_FAILED,
    common_pb2.JOB_STATE_CANCELED,
}
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


async def wait_job(
    cluster: Cluster, job_id: str, pred: object, timeout: float = 60, what: str = "condition"
) -> common_pb2.Job:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            async with cluster.client(retries=0, timeout=5) as c:
                last = await c.get(job_id)
            if pred(last):  # type: ignore[operator]
                return last
        except Exception:  # the master may be restarting
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never met {what}; last seen: {last}")


def log_time(line: str) -> float:
    """Unix time of a daemon log line (its asctime is local time, in ms)."""
    m = LOG_TIME.match(line)
    assert m, line
    return dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def metrics(cluster: Cluster) -> dict[str, float]:
    text = (
        urllib.request.urlopen(f"http://127.0.0.1:{cluster.metrics_port}/metrics", timeout=5)
        .read()
        .decode()
    )
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def event_states(job: common_pb2.Job) -> list[int]:
    return [e.to_state for e in job.events]
