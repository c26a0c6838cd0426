"""Every output kind and the network inputs, through a real master, real workers
and real ffmpeg; each output is decoded to prove it is really there."""

from __future__ import annotations

import asyncio
import functools
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ffrtmp.v1 import common_pb2, worker_pb2
from ffrtmp.worker.main import parser as worker_parser
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.media import decode_errors, ffmpeg_under_test, probe_media
from tests.helpers.rtmp import RtmpReceiver, free_port

# Real ffmpeg runs: repeated on the distribution's build (see tests/helpers/media.py).
pytestmark = pytest.mark.media

SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED
TINY = {"scenario": "test", "width": 160, "height": 120, "fps": 10, "bitrate": "200k"}


async def run_job(
    cluster: Cluster, **fields: object
) -> tuple[common_pb2.Job, list[common_pb2.Job]]:
    """Submit, watch to the end; the final job and everything the watch saw."""
    spec = common_pb2.JobSpec(**{**TINY, **fields})  # type: ignore[arg-type]
    async with cluster.client() as c:
        job = (await c.submit(spec)).job
        seen = [j async for j in c.watch(job.id)]
        final = await c.get(job.id)
    assert final.state == SUCCEEDED, f"{final.error}\n{final.log_tail[-2000:]}"
    return final, seen


def no_partials(root: Path) -> bool:
    return not [p for p in root.rglob("*") if ".partial" in p.name]


async def test_file_outputs_decode(cluster: Cluster) -> None:
    await cluster.wait_nodes(2)
    for name in ("clips/a.mp4", "clips/a.mkv"):
        job, _ = await run_job(cluster, output=name, duration_s=1.0)
        out = Path(job.output)
        assert out.is_relative_to(cluster.output_dir(job.node_id)) and out.name == Path(name).name
        assert job.output_bytes == out.stat().st_size > 0
        info = probe_media(out)
        assert (info.width, info.height, info.video_codec) == (160, 120, "h264")
        assert info.duration_s == pytest.approx(1.0, abs=0.15)
        assert decode_errors(out) == ""
        assert no_partials(cluster.output_dir(job.node_id))


async def test_rtmp_push_is_received_and_streams_eta(cluster: Cluster, tmp_path: Path) -> None:
    receiver = RtmpReceiver(free_port(), "live", "cam", tmp_path / "got.flv")
    try:
        job, seen = await run_job(cluster, output=receiver.url, live=True, duration_s=2.0)
        assert receiver.wait(20) == 0
    finally:
        receiver.stop()
    assert job.output == receiver.url and job.output_bytes == 0
    info = probe_media(receiver.out)
    assert (info.width, info.height, info.video_codec) == (160, 120, "h264")
    assert info.duration_s == pytest.approx(2.0, abs=0.5)
    assert decode_errors(receiver.out) == ""
    # A live job runs at real time: progress with a known end carries an ETA.
    etas = [j.progress.eta_s for j in seen if j.progress.HasField("eta_s")]
    assert etas and all(0 <= eta <= 3 for eta in etas)
    assert any(j.progress.speed > 0 and j.progress.fps >= 0 for j in seen)


def _playlist_entries(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


async def test_hls_ladder_every_rendition_decodes(cluster: Cluster) -> None:
    ladder = [
        common_pb2.Rendition(width=320, height=180, bitrate="300k"),
        common_pb2.Rendition(width=160, height=90, bitrate="100k"),
    ]
    job, _ = await run_job(cluster, output="hls/show/", renditions=ladder, duration_s=4.0)
    directory = cluster.output_dir(job.node_id) / job.owner / "hls" / "show"
    master = directory / "master.m3u8"
    assert job.output == str(master)
    text = master.read_text()
    assert text.startswith("#EXTM3U")
    assert re.findall(r"RESOLUTION=(\d+x\d+)", text) == ["320x180", "160x90"]
    variants = _playlist_entries(master)
    assert variants == ["master_0.m3u8", "master_1.m3u8"]
    for variant, (width, height) in zip(variants, [(320, 180), (160, 90)], strict=True):
        media = directory / variant
        assert "#EXT-X-ENDLIST" in media.read_text()
        segments = _playlist_entries(media)
        assert len(segments) >= 2 and all((directory / s).stat().st_size > 0 for s in segments)
        info = probe_media(media)
        assert (info.width, info.height, info.video_codec) == (width, height, "h264")
        assert info.duration_s == pytest.approx(4.0, abs=0.5)
        assert decode_errors(media) == ""
    size = sum(p.stat().st_size for p in directory.iterdir())
    assert job.output_bytes == size
    assert no_partials(cluster.output_dir(job.node_id))


async def test_null_output_writes_nothing(cluster: Cluster) -> None:
    before = {n: set(cluster.output_dir(n).rglob("*")) for n in ("w1", "w2")}
    job, _ = await run_job(cluster, output="null:", duration_s=1.0)
    assert job.output == "null:" and job.output_bytes == 0
    assert job.progress.percent == pytest.approx(100, abs=0.5)
    assert set(cluster.output_dir(job.node_id).rglob("*")) == before[job.node_id]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 3 s clip with sound, as a CDN would hold it (index first: python's
    http.server ignores Range requests, so the reader must not need to seek)."""
    path = tmp_path / "clip.mp4"
    subprocess.run(
        [
            *[ffmpeg_under_test(), "-hide_banner", "-nostdin", "-v", "error", "-y"],
            *["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10"],
            *["-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000"],
            *["-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"],
            *["-movflags", "+faststart", str(path)],
        ],
        check=True,
        timeout=60,
    )
    return path


@pytest.fixture
def http_base(clip: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(clip.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


async def test_http_input_to_file(cluster: Cluster, http_base: str) -> None:
    # No duration in the spec: the run lasts as long as the input.
    job, _ = await run_job(
        cluster, input=f"{http_base}/clip.mp4", output="from-http.mkv", duration_s=0
    )
    info = probe_media(job.output)
    assert (info.width, info.height) == (160, 120)
    assert info.duration_s == pytest.approx(3.0, abs=0.2)
    assert decode_errors(job.output) == ""


async def test_http_input_to_hls_keeps_its_audio(cluster: Cluster, http_base: str) -> None:
    job, _ = await run_job(cluster, input=f"{http_base}/clip.mp4", output="hls/web/", duration_s=0)
    directory = Path(job.output).parent
    ts = sorted(directory.glob("master_0_*.ts"))[0]
    header = subprocess.run(
        [ffmpeg_under_test(), "-hide_banner", "-i", str(ts)],
        capture_output=True,
        text=True,
        check=False,
    ).stderr
    assert "Audio: aac" in header and "Video: h264" in header


async def test_rtmp_pull_input(cluster: Cluster, tmp_path: Path) -> None:
    # ffmpeg serving one RTMP player: the worker's ffmpeg pulls from it.
    url = f"rtmp://127.0.0.1:{free_port()}/live/src"
    source = subprocess.Popen(
        [
            *[ffmpeg_under_test(), "-hide_banner", "-nostdin", "-v", "warning", "-re"],
            *["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "3"],
            *["-c:v", "libx264", "-preset", "ultrafast", "-g", "10"],
            *["-f", "flv", "-listen", "1", "-timeout", "60", url],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(1.0)  # it listens before it reads; a probe would be its player
        job, _ = await run_job(cluster, input=url, output="pulled.mkv", live=True, duration_s=0)
    finally:
        if source.poll() is None:
            source.kill()
        source.wait(5)
    info = probe_media(job.output)
    assert (info.width, info.height) == (160, 120)
    assert info.duration_s == pytest.approx(3.0, abs=0.6)
    assert decode_errors(job.output) == ""


STORES_OUTPUT_INFO = "output_info" in worker_pb2.Result.DESCRIPTOR.fields_by_name


@pytest.mark.skipif(not STORES_OUTPUT_INFO, reason="worker.proto Result has no output_info yet")
async def test_output_info_is_stored_with_the_job(cluster: Cluster) -> None:
    ladder = [
        common_pb2.Rendition(width=320, height=180, bitrate="300k"),
        common_pb2.Rendition(width=160, height=90, bitrate="100k"),
    ]
    hls, _ = await run_job(cluster, output="hls/info/", renditions=ladder, duration_s=2.0)
    mp4, _ = await run_job(cluster, output="info.mp4", duration_s=2.0)
    null, _ = await run_job(cluster, output="null:", duration_s=0.5)
    assert not null.HasField("output_info")
    info = mp4.output_info
    assert info.format.startswith("mov,mp4") and info.size_bytes == mp4.output_bytes
    assert info.duration_s == pytest.approx(2.0, abs=0.15) and info.bitrate_bps > 0
    kinds = [(s.kind, s.codec, s.width, s.height) for s in info.streams]
    assert kinds == [("video", "h264", 160, 120), ("audio", "aac", 0, 0)]
    assert info.streams[1].sample_rate == 48000
    sizes = [(s.width, s.height) for s in hls.output_info.streams if s.kind == "video"]
    assert hls.output_info.format == "hls" and sizes == [(320, 180), (160, 90)]


HAS_DISK_FLAG = "--min-free-disk" in worker_parser().format_help()


@pytest.mark.skipif(not HAS_DISK_FLAG, reason="ffrtmp-worker has no --min-free-disk yet")
async def test_a_nearly_full_disk_refuses_jobs_transiently(tmp_path: Path) -> None:
    full = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        full.start_master("--max-retries", "1")
        full.start_worker("full", "--min-free-disk", "1000T")
        await full.wait_nodes(1)
        async with full.client() as c:
            job = (await c.submit(common_pb2.JobSpec(scenario="test", duration_s=0.5))).job
            _ = [j async for j in c.watch(job.id)]
            final = await c.get(job.id)
    finally:
        full.stop()
    assert final.state == common_pb2.JOB_STATE_FAILED
    assert re.match(r"output disk nearly full: \d+ MiB free", final.error)
    # Transient: it was retried (another worker might have had room) before giving up.
    assert final.attempt == 2 and "transient failure" in final.events[2].reason
    assert not list(full.output_dir("full").rglob("*"))
