"""What a worker stores of an output: every file (an HLS directory's playlists and
segments, never its hidden marker), under its attempt's name space, named so a
download recreates the layout; a failed upload is a transient refusal."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from ffrtmp.core.artifacts import check_artifacts
from ffrtmp.core.model import Lease, Outcome
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.worker.blobcache import InputCache
from ffrtmp.worker.blobio import Media, UploadFailed, safe_name, upload_output
from ffrtmp.worker.environment import Environment, Refused
from ffrtmp.worker.execution import Execution, Stop

LEASE = Lease("j1", 3)


class Store:
    """The blob service as the worker sees it: keeps what it is given."""

    def __init__(self, fail_on: str = "") -> None:
        self.kept: dict[str, bytes] = {}
        self.fail_on = fail_on

    async def size(self, resource: str, lease: Lease) -> int:
        return len(self.kept[resource])

    async def download(self, resource: str, dest: Path, lease: Lease) -> None:
        dest.write_bytes(self.kept[resource])

    async def upload(self, resource: str, path: Path, ctype: str, lease: Lease) -> tuple[str, int]:
        if self.fail_on and resource.endswith(self.fail_on):
            raise ConnectionResetError("connection reset by peer")
        data = path.read_bytes()
        self.kept[resource] = data
        return hashlib.sha256(data).hexdigest(), len(data)


async def test_a_file_output_is_one_artifact(tmp_path: Path) -> None:
    out = tmp_path / "clip one.mp4"
    out.write_bytes(b"mp4 bytes")
    store = Store()
    (a,) = await upload_output(store, out, LEASE)
    assert a.name == "clip_one.mp4" and a.content_type == "video/mp4"
    assert a.resource == "jobs/j1/attempts/3/clip_one.mp4"
    assert a.sha256 == hashlib.sha256(b"mp4 bytes").hexdigest() and a.size_bytes == 9
    check_artifacts((a,), "jobs/j1/attempts/3/")


async def test_an_hls_directory_is_every_visible_file(tmp_path: Path) -> None:
    hls = tmp_path / "show"
    (hls / "v0").mkdir(parents=True)
    (hls / "master.m3u8").write_text("#EXTM3U\n")
    (hls / "v0" / "seg_00001.ts").write_bytes(b"ts")
    (hls / ".ffrtmp-job").write_text("j1\n")  # the staging marker stays local
    arts = await upload_output(Store(), hls, LEASE)
    assert [a.name for a in arts] == ["show/master.m3u8", "show/v0/seg_00001.ts"]
    assert [a.content_type for a in arts] == ["application/vnd.apple.mpegurl", "video/mp2t"]
    check_artifacts(arts, "jobs/j1/attempts/3/")


async def test_a_failed_upload_is_a_transient_refusal(tmp_path: Path) -> None:
    hls = tmp_path / "show"
    hls.mkdir()
    for i in range(6):
        (hls / f"seg_{i}.ts").write_bytes(b"ts")
    with pytest.raises(UploadFailed, match="connection reset") as info:
        await upload_output(Store(fail_on="seg_3.ts"), hls, LEASE)
    assert isinstance(info.value, Refused)


def test_names_the_blob_service_accepts() -> None:
    assert safe_name("a b/c?d.ts") == "a_b/c_d.ts"
    assert safe_name("x/../y") == "x/_../y"


class SlowStore(Store):
    """An input that takes for ever to arrive."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    async def size(self, resource: str, lease: Lease) -> int:
        return 100

    async def download(self, resource: str, dest: Path, lease: Lease) -> None:
        self.started.set()
        await asyncio.Event().wait()


async def test_a_stop_wins_over_a_long_input_download(tmp_path: Path) -> None:
    cache = InputCache(tmp_path / "cache", 1000)
    cache.sweep()
    store = SlowStore()
    spec = resolve(RawSpec(scenario="test"))
    spec = replace(spec, input="blob:owners/alice/blobs/" + "ab" * 32)
    run = Execution(LEASE, spec)
    env = Environment("ffmpeg", (), tmp_path, tmp_path, "rtmp://x/live", lambda: 0.0)
    task = asyncio.ensure_future(
        run.run(env, on_started=lambda pid: None, on_progress=lambda p: None,
                media=Media(store, cache))
    )
    await asyncio.wait_for(store.started.wait(), 5)
    await run.stop(Stop.CANCEL)
    report = await asyncio.wait_for(task, 5)
    assert report.outcome == Outcome.CANCELED
    assert cache.used == 0 and list(cache.root.iterdir()) == []  # nothing half-fetched kept
