"""FfmpegRun and probe_capabilities against the real ffmpeg binary."""

from __future__ import annotations

import asyncio
import glob
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ffrtmp.core.argv import build_argv
from ffrtmp.core.model import Outcome, ProgressInfo
from ffrtmp.worker.probe import probe_capabilities
from ffrtmp.worker.runner import FfmpegRun
from tests.helpers.media import decode_errors, ffmpeg_under_test, probe_media
from tests.helpers.runs import RUN_SPEC as SPEC
from tests.helpers.runs import make_run

# Real ffmpeg runs: repeated on the distribution's build (see tests/helpers/media.py).
pytestmark = pytest.mark.media

FFMPEG = ffmpeg_under_test()



def gone(pgid: int) -> bool:
    """No live process is left in the group (zombies are dead, just not yet reaped)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            return False
    return True


async def test_synthetic_transcode_succeeds(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    seen: list[ProgressInfo] = []
    run = make_run(SPEC, output, seen)
    pid = await run.start()
    assert run.ffmpeg_pid == pid

    result = await run.wait()

    assert result.outcome is Outcome.SUCCEEDED, result.log_tail
    assert (result.exit_code, result.error_class, result.error) == (0, "", "")
    assert result.output_bytes == output.stat().st_size > 0
    assert seen, "no progress reported"
    times = [info.out_time_s for info in seen]
    assert times == sorted(times)
    assert seen[-1].percent == pytest.approx(100.0, abs=1.0)
    assert seen[-1].frame == 20
    assert decode_errors(output, FFMPEG) == ""
    media = probe_media(output, FFMPEG)
    assert (media.width, media.height, media.video_codec) == (320, 240, "h264")
    assert media.duration_s == pytest.approx(2.0, abs=0.1)
    assert await run.wait() is result  # repeatable


async def test_missing_input_fails_permanently(tmp_path: Path) -> None:
    spec = replace(SPEC, input=str(tmp_path / "missing.mp4"))
    output = tmp_path / "out.mp4"
    run = make_run(spec, output, [], input_url=spec.input)
    await run.start()

    result = await run.wait()

    assert result.outcome is Outcome.FAILED
    assert result.error_class == "permanent"
    assert result.exit_code != 0
    assert "No such file" in result.log_tail
    assert "No such file" in result.error and "\n" not in result.error
    assert result.output_bytes == 0


async def test_cancel_stops_the_group_and_removes_partial_output(tmp_path: Path) -> None:
    spec = replace(SPEC, live=True, duration_s=30)
    output = tmp_path / "live.ts"
    seen: list[ProgressInfo] = []
    run = make_run(spec, output, seen)
    pid = await run.start()
    waiter = asyncio.create_task(run.wait())
    # -re paces the job at real time: wait until it has really started writing.
    deadline = time.monotonic() + 15
    while not (seen and output.exists() and output.stat().st_size > 0):
        assert time.monotonic() < deadline, "ffmpeg produced nothing"
        assert not waiter.done(), waiter.result().log_tail
        await asyncio.sleep(0.1)

    started = time.monotonic()
    await run.cancel(grace=3.0)
    elapsed = time.monotonic() - started
    result = await waiter

    assert elapsed < 5.0
    assert run.ffmpeg_pid is not None and gone(run.ffmpeg_pid) and gone(pid)
    assert not output.exists()
    assert result.outcome is Outcome.CANCELED
    assert result.error_class == ""
    assert seen[-1].percent < 50


async def test_kill_fences_without_deleting_output(tmp_path: Path) -> None:
    spec = replace(SPEC, live=True, duration_s=30)
    output = tmp_path / "live.ts"
    run = make_run(spec, output, [])
    pid = await run.start()
    deadline = time.monotonic() + 15
    while not (output.exists() and output.stat().st_size > 0):
        assert time.monotonic() < deadline, "ffmpeg produced nothing"
        await asyncio.sleep(0.1)

    await run.kill()
    result = await run.wait()

    assert run.ffmpeg_pid is not None and gone(run.ffmpeg_pid) and gone(pid)
    assert output.exists()
    assert result.outcome is Outcome.CANCELED
    assert result.exit_code == -9


# Ignores SIGTERM and leaves a child (which inherits the ignore) in its process group.
STUBBORN = """\
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("ready", file=sys.stderr, flush=True)
time.sleep(60)
"""


async def test_cancel_escalates_to_sigkill_for_the_whole_group(tmp_path: Path) -> None:
    output = tmp_path / "partial.bin"
    output.write_bytes(b"x")
    run = FfmpegRun(
        [sys.executable, "-c", STUBBORN], duration_s=0, on_progress=print, output_path=output
    )
    pid = await run.start()
    await asyncio.sleep(0.5)  # let it install the handler and fork

    started = time.monotonic()
    await run.cancel(grace=0.5)
    elapsed = time.monotonic() - started
    result = await run.wait()

    assert 0.4 < elapsed < 3.0
    assert result.exit_code == -9
    assert result.outcome is Outcome.CANCELED
    await asyncio.sleep(0.1)  # SIGKILL is asynchronous for the orphaned child
    assert run.ffmpeg_pid is not None and gone(run.ffmpeg_pid) and gone(pid)
    assert not output.exists()


# Emits 40 progress blocks 25 ms apart, then the end block.
FAST_PROGRESS = """\
import sys, time
for i in range(1, 41):
    print(f"frame={i}\\nout_time_us={i * 100000}\\nspeed=1.0x\\nprogress=continue", flush=True)
    time.sleep(0.025)
print("frame=40\\nout_time_us=4000000\\nprogress=end", flush=True)
print("all done", file=sys.stderr)
"""


async def test_progress_is_throttled_but_the_last_report_arrives(tmp_path: Path) -> None:
    seen: list[ProgressInfo] = []

    async def report(info: ProgressInfo) -> None:
        seen.append(info)

    run = FfmpegRun(
        [sys.executable, "-c", FAST_PROGRESS], duration_s=4.0, on_progress=report, output_path=None
    )
    started = time.monotonic()
    await run.start()
    result = await run.wait()
    elapsed = time.monotonic() - started

    assert result.outcome is Outcome.SUCCEEDED
    assert result.log_tail == "all done"
    assert 2 <= len(seen) <= elapsed / 0.25 + 2
    assert seen[-1].percent == pytest.approx(100.0)
    assert seen[-1].frame == 40


async def test_a_failing_callback_does_not_fail_the_run(tmp_path: Path) -> None:
    def broken(info: ProgressInfo) -> None:
        raise RuntimeError("master away")

    argv = build_argv(
        FFMPEG, SPEC, input_url="", output_url=str(tmp_path / "o.mp4"), encoder="libx264"
    )
    run = FfmpegRun(argv, duration_s=2, on_progress=broken, output_path=tmp_path / "o.mp4")
    await run.start()
    assert (await run.wait()).outcome is Outcome.SUCCEEDED


async def test_probe_capabilities_on_the_real_binary() -> None:
    caps = await probe_capabilities(FFMPEG)

    assert "libx264" in caps.encoders
    assert "aac" in caps.encoders
    assert 1 <= caps.cpu_threads <= (os.cpu_count() or 1)
    assert caps.ram_bytes > 64 * 1024 * 1024
    # The short version ("5.1.6", "9.0.2"), not the banner.
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", caps.ffmpeg_version), caps.ffmpeg_version
    f = caps.features
    assert f.version.short == caps.ffmpeg_version and f.stats_period
    assert {"scale", "format", "split", "hwupload"} <= f.filters
    assert {"file", "pipe", "rtmp", "http"} <= f.protocols
    assert {"out_time_us", "speed", "progress"} <= f.progress_keys
    assert caps.gpus == len(glob.glob("/dev/nvidia[0-9]*"))  # devices, not nvidiactl
    assert all(" " not in name for name in caps.hwaccels)
