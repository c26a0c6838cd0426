"""A master SIGKILLed while bytes are uploaded through it, restarted on the same
database and blob directory: it still holds what it synced, and the upload
continues from there instead of from 0.

* The CLI's `--input` upload: it retries UNAVAILABLE with backoff for up to two
  minutes; the master stays down for longer than the transfer library's own
  eight retries would wait, so the CLI's patience is what carries it.
* A worker's output upload: the same attempt finishes it after the restart and
  the job SUCCEEDS with those bytes; nothing was visible before.

About a minute of wall time: `make media-faults`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers.certs import ADMIN
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import wait_job
from tests.helpers.media import probe_media
from tests.helpers.procs import Proc
from tests.helpers.proxy import TcpProxy

pytestmark = pytest.mark.skipif(
    os.environ.get("FFRTMP_MEDIA_FAULTS") != "1", reason="make media-faults runs these"
)

SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED
MIB = 1024 * 1024
SIZE = 48 * MIB
DOWN_S = 20.0  # longer than 8 retries with backoff capped at 3 s (at most ~18 s)


def _partial_bytes(blobs: Path) -> int:
    return sum(p.stat().st_size for p in blobs.glob("partial/*/data") if p.is_file())


async def test_the_cli_resumes_an_upload_after_the_master_is_killed(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(SIZE))
    sha = hashlib.sha256(big.read_bytes()).hexdigest()
    (tmp_path / "c").mkdir()
    cluster = Cluster(tmp_path / "c", make_certs(tmp_path / "certs"))
    proxy = None
    try:
        cluster.start_master()
        # The CLI talks to the master through a proxy that can hold the link still
        # while the master is killed: the kill then lands mid-upload for certain.
        proxy = TcpProxy(cluster.port)
        cert, key = cluster.certs.pair(ADMIN)
        cli = Proc([
            sys.executable, "-m", "ffrtmp.cli.main", "--master", f"127.0.0.1:{proxy.port}",
            "--ca", str(cluster.certs.ca), "--cert", str(cert), "--key", str(key),
            "-o", "json", "jobs", "submit", "--scenario", "test", "--input", str(big),
        ], tmp_path / "cli.log")
        blobs = cluster.root / "blobs"
        deadline = time.monotonic() + 60
        while _partial_bytes(blobs) < 4 * MIB:
            assert time.monotonic() < deadline and cli.popen.poll() is None, cli.lines
            time.sleep(0.005)
        proxy.pause()
        assert cluster.master is not None
        cluster.master.kill()
        kept = _partial_bytes(blobs)
        assert 0 < kept < SIZE
        time.sleep(DOWN_S)
        assert cli.popen.poll() is None, "".join(cli.lines)  # still trying
        cluster.start_master(*cluster.master_args, port=cluster.port)
        proxy.reset()  # the held connection was to the dead master
        proxy.resume()
        assert cli.popen.wait(120) == 0, "".join(cli.lines)
        job = json.loads("".join(line for line in cli.lines if not line.startswith("upload")))
        assert job["input"] == f"blob:sha256:{sha}"
        m = cluster.master.wait_for(rf"owners/admin/blobs/{sha}: upload resumed at byte (\d+)")
        resumed_at = int(m.group(1))
        # Only what the first master had not kept was sent again.
        assert resumed_at == kept, (resumed_at, kept)
        assert SIZE - resumed_at < SIZE
        data = next(blobs.glob(f"objects/**/{sha}*/data"), None) or next(
            p for p in blobs.rglob("data") if "partial" not in p.parts
        )
        assert hashlib.sha256(data.read_bytes()).hexdigest() == sha
        assert not re.search(r"Traceback", "".join(cli.lines))
    finally:
        if proxy is not None:
            proxy.close()
        cluster.stop()


@pytest.mark.media
async def test_a_workers_output_upload_resumes_after_the_master_is_killed(
    tmp_path: Path,
) -> None:
    (tmp_path / "c").mkdir()
    cluster = Cluster(tmp_path / "c", make_certs(tmp_path / "certs"))
    proxy = None
    try:
        # Contact lost for longer than the restart takes is what fences a worker;
        # 30 s here (the default is 120 s), more than a loaded machine's restart.
        cluster.start_master("--heartbeat-timeout", "30s")
        # The worker reaches the master through a slow link: its upload of a few
        # MiB takes long enough for the kill to land in the middle of it.
        proxy = TcpProxy(cluster.port)
        cluster.start_worker("w1", "--input-root", str(tmp_path / "in"),
                             master=f"127.0.0.1:{proxy.port}")
        await cluster.wait_nodes(1)
        spec = common_pb2.JobSpec(
            scenario="test", input="lavfi:testsrc2", duration_s=3.0, output="big.mp4",
            width=1280, height=720, fps=25, bitrate="40M",
        )
        async with cluster.client() as c:
            job = (await c.submit(spec)).job
        cluster.workers["w1"].wait_for(rf"job {job.id} attempt 1: storing 1 output", 120)
        proxy.throttle(2 * MIB)
        blobs = cluster.root / "blobs"
        deadline = time.monotonic() + 60
        while _partial_bytes(blobs) < MIB:
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.005)
        proxy.pause()
        assert cluster.master is not None
        cluster.master.kill()
        kept = _partial_bytes(blobs)
        cluster.start_master(*cluster.master_args, port=cluster.port)
        proxy.throttle(0)
        proxy.reset()
        proxy.resume()
        name = f"jobs/{job.id}/attempts/1/big.mp4"
        m = cluster.master.wait_for(rf"{name}: upload resumed at byte (\d+)", 90)
        assert int(m.group(1)) == kept
        done = await wait_job(cluster, job.id, lambda j: j.state == SUCCEEDED, 90, "success")
        assert done.attempt == 1, done  # the same attempt finished its upload
        (art,) = done.output_info.artifacts
        assert art.resource == name and art.size_bytes > kept
        async with cluster.client() as c:
            await c.transfer().download(name, tmp_path / "big.mp4")
        got = tmp_path / "big.mp4"
        assert hashlib.sha256(got.read_bytes()).hexdigest() == art.sha256
        assert probe_media(got).width == 1280
    finally:
        if proxy is not None:
            proxy.close()
        cluster.stop()
