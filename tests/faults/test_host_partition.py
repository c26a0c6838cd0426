"""A worker host cut off the network mid-run (its cable pulled: the veth link of its
namespace set down), then plugged back in, with a stored input and stored outputs:
the cut-off worker fences its run, the master gives the job to the other host,
which fetches the input from the blob store itself and stores its own outputs; when
the first host is back, its stale attempt has stored nothing, and the job succeeds
once, with the second attempt's artifacts.

About a minute of wall time, so not in the default suite: `make hosts`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers import netns
from tests.helpers.hosts import LanCluster, lan_cluster
from tests.helpers.jobs import wait_job
from tests.helpers.media import decode_errors, ffmpeg_under_test, probe_media

pytestmark = [
    pytest.mark.media,
    pytest.mark.skipif(os.environ.get("FFRTMP_HOSTS") != "1", reason="make hosts runs these"),
]

WORKERS = ("w1", "w2")
RUNNING, SUCCEEDED = common_pb2.JOB_STATE_RUNNING, common_pb2.JOB_STATE_SUCCEEDED


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[LanCluster]:
    if (why := netns.unavailable()) is not None:
        pytest.fail(f"`make hosts` needs separate hosts: {why}")
    with lan_cluster(tmp_path, WORKERS) as cluster:
        for name in WORKERS:
            cluster.start_worker(name)
        yield cluster


async def test_a_host_cut_off_mid_run_loses_its_attempt_and_stores_nothing(
    hosts: LanCluster, tmp_path: Path
) -> None:
    movie = hosts.laptop / "movie.mp4"
    subprocess.run(
        [ffmpeg_under_test(), "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=20",
         "-c:v", "libx264", str(movie)],
        check=True, timeout=60,
    )
    await hosts.wait_nodes(2)
    async with hosts.client() as c:
        await c.drain_node("w2")  # the job starts on w1
        ref = await c.transfer().upload(movie)
        # Live: ffmpeg reads the input in real time, so the run lasts its 20 s.
        spec = common_pb2.JobSpec(scenario="test", input=f"blob:sha256:{ref.sha256}",
                                  output="cut.mkv", width=160, height=120, live=True)
        job_id = (await c.submit(spec)).job.id
    running = await wait_job(hosts, job_id, lambda j: j.state == RUNNING, 60, "RUNNING")
    assert running.node_id == "w1" and running.attempt == 1
    await asyncio.sleep(2)  # well into the run
    hosts.host("w1").link(False)
    async with hosts.client() as c:
        await c.drain_node("w2", drain=False)
    second = await wait_job(hosts, job_id, lambda j: j.attempt == 2 and j.state == RUNNING,
                            60, "attempt 2 RUNNING")
    assert second.node_id == "w2"
    hosts.host("w1").link(True)  # back while attempt 2 runs: its attempt 1 is stale
    done = await wait_job(hosts, job_id, lambda j: j.state == SUCCEEDED, 90, "SUCCEEDED")
    assert (done.node_id, done.attempt, done.lost_attempts) == ("w2", 2, 1)
    assert [a.resource for a in done.output_info.artifacts] == [
        f"jobs/{job_id}/attempts/2/cut.mkv"
    ]
    await hosts.wait_nodes(2)  # w1 is back
    # Nothing of attempt 1 was ever stored, and w1 fetched nothing it may keep.
    blobs = hosts.root / "blobs" / "objects" / "jobs" / job_id
    assert sorted(p.name for p in blobs.iterdir()) == ["2"], list(blobs.rglob("*"))
    got = hosts.cli("jobs", "fetch", job_id, "-o", "got")
    assert got.returncode == 0, got.stderr
    out = hosts.laptop / "got" / "cut.mkv"
    assert probe_media(out).duration_s == pytest.approx(20, abs=1)
    assert decode_errors(out) == ""
    w1 = hosts.workers["w1"]
    assert any("fenc" in line for line in w1.lines), "".join(w1.lines[-30:])
