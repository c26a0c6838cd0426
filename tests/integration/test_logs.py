"""--log-format json: every line a JSON object, job lines with their fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, Proc, make_certs


def _records(proc: Proc) -> list[dict[str, Any]]:
    out = []
    for line in proc.lines:
        if line.startswith(("ffrtmp-master ready", "ffrtmp-worker ready")):
            continue  # the start-up handshake on stdout, for supervisors
        rec = json.loads(line)  # anything else must parse
        assert {"time", "level", "logger", "message"} <= rec.keys(), rec
        out.append(rec)
    return out


async def test_json_logs_carry_job_node_and_attempt(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        master = cluster.start_master("--log-format", "json", "--log-level", "debug")
        worker = cluster.start_worker("w1", "--log-format", "json")
        await cluster.wait_nodes(1)
        async with cluster.client() as c:
            resp = await c.submit(common_pb2.JobSpec(scenario="test", duration_s=0.5))
            states = [j.state async for j in c.watch(resp.job.id)]
        assert states[-1] == common_pb2.JOB_STATE_SUCCEEDED
        job_id = resp.job.id
        worker.wait_for(f"{job_id} attempt 1: SUCCEEDED")
    finally:
        cluster.stop()
    w = [r for r in _records(worker) if r.get("job_id") == job_id]
    assert w, "no worker line about the job"
    assert all(r["node_id"] == "w1" and r["attempt"] == 1 for r in w), w
    assert any("SUCCEEDED" in r["message"] for r in w)
    m = [r for r in _records(master) if r.get("job_id") == job_id]
    assert any(r["message"].endswith("QUEUED -> ASSIGNED") for r in m), m
    assigned = next(r for r in m if r["message"].endswith("QUEUED -> ASSIGNED"))
    assert assigned["node_id"] == "w1" and assigned["attempt"] == 1
    assert assigned["level"] == "debug" and assigned["logger"] == "ffrtmp.master.jobs"
