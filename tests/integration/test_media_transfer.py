"""Media without a shared disk: two workers that share no directory (their own
input roots, output roots and input caches), a local file uploaded from the CLI,
transcoded on whichever worker takes it, fetched back and decoded; an HLS ladder
fetched as a directory in which every rendition plays."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ffrtmp.client import Client
from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.media import decode_errors, ffmpeg_under_test, probe_media

pytestmark = pytest.mark.media

TINY = ["--scenario", "test", "--width", "160", "--height", "120", "--fps", "10"]


@dataclass
class Hosts:
    cluster: Cluster
    inputs: Path  # the "laptop": files the CLI uploads, on no worker's disk


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    root = tmp_path_factory.mktemp("hosts")
    laptop = root / "laptop"
    laptop.mkdir()
    # The cache test's two inputs are the largest; w1's cache holds either, not both.
    a, b = _movie(laptop / "a.mp4", 3.0), _movie(laptop / "b.mp4", 3.0, "smptebars")
    small, large = sorted((a.stat().st_size, b.stat().st_size))
    room = large + small // 2
    cluster = Cluster(root, make_certs(root / "certs"))
    try:
        cluster.start_master()
        # Each "host" has its own roots: nothing a job reads or writes is shared.
        extra = {"w1": ["--slots", "2", "--input-cache-size", str(room)], "w2": []}
        with ThreadPoolExecutor(2) as pool:  # the start-up probes run side by side
            list(pool.map(lambda n: cluster.start_worker(
                n, "--input-root", str(root / f"in-{n}"), *extra[n]), extra))
        yield Hosts(cluster, laptop)
    finally:
        cluster.stop()


def _movie(path: Path, seconds: float = 2.0, source: str = "testsrc2", size: str = "320x240"
           ) -> Path:
    subprocess.run(
        [ffmpeg_under_test(), "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", f"{source}=size={size}:rate=10:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-c:a", "aac", "-shortest", str(path)],
        check=True, timeout=60,
    )
    return path


def _submit(cluster: Cluster, *args: str, wait: bool = True) -> dict[str, Any]:
    """The job as `-o json jobs submit` prints it: with --wait, as it ended."""
    more = ["--wait"] if wait else []
    done = cluster.cli("-o", "json", "jobs", "submit", *TINY, *args, *more, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    job: dict[str, Any] = json.loads(done.stdout)
    return job


async def test_a_local_file_goes_up_is_transcoded_and_comes_back(
    hosts: Hosts, tmp_path: Path
) -> None:
    await hosts.cluster.wait_nodes(2)
    movie = _movie(hosts.inputs / "movie.mp4", size="160x120")
    job = _submit(hosts.cluster, "--input", str(movie), "--output", "clip.mp4")
    assert job["state"] == "SUCCEEDED"
    assert re.fullmatch(r"blob:sha256:[0-9a-f]{64}", job["input"])
    arts = job["output_info"]["artifacts"]
    assert [(a["name"], a["content_type"]) for a in arts] == [("clip.mp4", "video/mp4")]
    assert arts[0]["resource"] == f"jobs/{job['id']}/attempts/1/clip.mp4"
    fetched = hosts.cluster.cli("jobs", "fetch", job["id"], "-o", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    out = tmp_path / "got" / "clip.mp4"
    info = probe_media(out)
    assert (info.width, info.height) == (160, 120)
    assert info.duration_s == pytest.approx(2.0, abs=0.3)
    assert decode_errors(out) == ""
    assert hashlib.sha256(out.read_bytes()).hexdigest() == arts[0]["sha256"]
    # The same file again: the same blob (the upload skips bytes the master holds).
    again = _submit(hosts.cluster, "--input", str(movie), "--output", "c2.mp4", wait=False)
    assert again["input"] == job["input"]


async def test_an_hls_ladder_is_fetched_as_a_directory_that_plays(
    hosts: Hosts, tmp_path: Path
) -> None:
    movie = _movie(hosts.inputs / "ladder.mp4", seconds=4.0, size="160x120")
    job = _submit(
        hosts.cluster, "--input", str(movie), "--output", "hls/show/",
        "--rendition", "320x180@300k", "--rendition", "160x90@100k",
    )
    fetched = hosts.cluster.cli("jobs", "fetch", job["id"], "-o", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    show = tmp_path / "got" / "show"
    master = (show / "master.m3u8").read_text()
    variants = [x for x in master.splitlines() if x and not x.startswith("#")]
    assert len(variants) == 2
    for variant, (w, h) in zip(variants, [(320, 180), (160, 90)], strict=True):
        playlist = show / variant
        segments = [x for x in playlist.read_text().splitlines() if x and not x.startswith("#")]
        assert segments and all((show / s).stat().st_size > 0 for s in segments)
        info = probe_media(playlist)
        assert (info.width, info.height) == (w, h)
        assert decode_errors(playlist) == ""


async def test_a_full_input_cache_gives_a_job_back_instead_of_failing_it(
    hosts: Hosts,
) -> None:
    """w1 has two slots and a cache with room for one of two inputs. Both jobs are
    assigned in one round (the workers are drained while they are submitted); the
    run that finds the cache held by the other is given back (lost, not charged),
    w1 takes no job until that run ends, then runs it: both succeed."""
    ids = []
    async with hosts.cluster.client() as c:
        for node in ("w1", "w2"):
            await c.drain_node(node)
        for name in ("a", "b"):
            ref = await c.transfer().upload(hosts.inputs / f"{name}.mp4")
            spec = common_pb2.JobSpec(scenario="test", input=f"blob:sha256:{ref.sha256}",
                                      output=f"{name}.mp4", width=160, height=120)
            ids.append((await c.submit(spec)).job.id)
        await c.drain_node("w1", drain=False)
        jobs = [await _finished(c, job_id) for job_id in ids]
        await c.drain_node("w2", drain=False)
    assert [j.state for j in jobs] == [common_pb2.JOB_STATE_SUCCEEDED] * 2
    assert {j.node_id for j in jobs} == {"w1"}
    refused = [j for j in jobs if any("input cache full" in e.reason for e in j.events)]
    assert len(refused) == 1 and refused[0].lost_attempts == 1 and refused[0].attempt == 2
    assert [a.name for a in refused[0].output_info.artifacts] == [refused[0].spec.output]


async def _finished(c: Client, job_id: str) -> common_pb2.Job:
    async for _ in c.watch(job_id):
        pass
    return await c.get(job_id)
