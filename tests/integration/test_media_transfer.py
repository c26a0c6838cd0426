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
from pathlib import Path
from typing import Any

import pytest

from ffrtmp.client import Client
from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.media import decode_errors, ffmpeg_under_test, probe_media

pytestmark = pytest.mark.media

TINY = ["--scenario", "test", "--width", "160", "--height", "120", "--fps", "10"]


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("hosts")
    cluster = Cluster(root, make_certs(root / "certs"))
    try:
        cluster.start_master()
        for name in ("w1", "w2"):
            # Each "host" has its own roots: nothing a job reads or writes is shared.
            cluster.start_worker(name, "--input-root", str(root / f"in-{name}"))
        yield cluster
    finally:
        cluster.stop()


def _movie(path: Path, seconds: float = 2.0, source: str = "testsrc2") -> Path:
    subprocess.run(
        [ffmpeg_under_test(), "-v", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", f"{source}=size=320x240:rate=10:duration={seconds}",
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
    hosts: Cluster, tmp_path: Path
) -> None:
    await hosts.wait_nodes(2)
    movie = _movie(tmp_path / "movie.mp4")
    job = _submit(hosts, "--input", str(movie), "--output", "clip.mp4")
    assert job["state"] == "SUCCEEDED"
    assert re.fullmatch(r"blob:sha256:[0-9a-f]{64}", job["input"])
    arts = job["output_info"]["artifacts"]
    assert [(a["name"], a["content_type"]) for a in arts] == [("clip.mp4", "video/mp4")]
    assert arts[0]["resource"] == f"jobs/{job['id']}/attempts/1/clip.mp4"
    fetched = hosts.cli("jobs", "fetch", job["id"], "-o", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    out = tmp_path / "got" / "clip.mp4"
    info = probe_media(out)
    assert (info.width, info.height) == (160, 120)
    assert info.duration_s == pytest.approx(2.0, abs=0.3)
    assert decode_errors(out) == ""
    assert hashlib.sha256(out.read_bytes()).hexdigest() == arts[0]["sha256"]
    # The same file again: the same blob (the upload skips bytes the master holds).
    again = _submit(hosts, "--input", str(movie), "--output", "clip2.mp4", wait=False)
    assert again["input"] == job["input"]


async def test_an_hls_ladder_is_fetched_as_a_directory_that_plays(
    hosts: Cluster, tmp_path: Path
) -> None:
    movie = _movie(tmp_path / "ladder.mp4", seconds=4.0)
    job = _submit(
        hosts, "--input", str(movie), "--output", "hls/show/",
        "--rendition", "320x180@300k", "--rendition", "160x90@100k",
    )
    fetched = hosts.cli("jobs", "fetch", job["id"], "-o", str(tmp_path / "got"))
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
    hosts: Cluster, tmp_path: Path
) -> None:
    """Last in this module: it replaces both workers by one with two slots and a
    cache with room for one input. Both jobs are assigned in its first round; the
    run that finds the cache held by the other is given back (lost, not charged),
    the worker takes no job until that run ends, then runs it: both succeed."""
    for name in ("w1", "w2"):
        hosts.workers.pop(name).stop()
    a, b = _movie(tmp_path / "a.mp4", 3.0), _movie(tmp_path / "b.mp4", 3.0, "smptebars")
    small, large = sorted((a.stat().st_size, b.stat().st_size))
    room = large + small // 2  # either input fits, both do not
    ids = []
    async with hosts.client() as c:
        for movie in (a, b):
            ref = await c.transfer().upload(movie)
            spec = common_pb2.JobSpec(scenario="test", input=f"blob:sha256:{ref.sha256}",
                                      output=f"{movie.stem}.mp4", width=160, height=120)
            ids.append((await c.submit(spec)).job.id)
        hosts.start_worker("small", "--slots", "2", "--input-cache-size", str(room))
        jobs = [await _finished(c, job_id) for job_id in ids]
    assert [j.state for j in jobs] == [common_pb2.JOB_STATE_SUCCEEDED] * 2
    refused = [j for j in jobs if any("input cache full" in e.reason for e in j.events)]
    assert len(refused) == 1 and refused[0].lost_attempts == 1 and refused[0].attempt == 2
    assert [a.name for a in refused[0].output_info.artifacts] == [f"{refused[0].spec.output}"]


async def _finished(c: Client, job_id: str) -> common_pb2.Job:
    async for _ in c.watch(job_id):
        pass
    return await c.get(job_id)
