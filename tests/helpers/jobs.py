"""Waiting on job states, reading a job's events and the daemons' log times."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time

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


def event_states(job: common_pb2.Job) -> list[int]:
    return [e.to_state for e in job.events]
