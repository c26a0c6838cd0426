"""The launcher holds the lease's deadline: it kills ffmpeg by itself when the worker
stops renewing it or lets go of the pipe, and passes ffmpeg's exit status on exactly.
Real launcher, real ffmpeg (or a tiny interpreter standing in for it)."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil

from ffrtmp.core.model import Outcome, ProgressInfo
from ffrtmp.worker import fence_launcher
from ffrtmp.worker.runner import FfmpegRun
from tests.helpers.runs import RUN_SPEC as SPEC
from tests.helpers.runs import make_run

LONG = replace(SPEC, duration_s=3600, live=True)


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _until(predicate: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_lapsed_deadline_kills_ffmpeg_without_the_worker(tmp_path: Path) -> None:
    seen: list[ProgressInfo] = []
    run = make_run(LONG, tmp_path / "o.ts", seen)
    run = FfmpegRun(
        run.argv,
        duration_s=3600,
        on_progress=seen.append,
        output_path=tmp_path / "o.ts",
        deadline=time.monotonic() + 2.0,
    )
    await run.start()
    await _until(lambda: bool(seen))
    # Nothing renews the deadline: this process only waits, as a stalled worker would.
    result = await asyncio.wait_for(run.wait(), 20)
    assert run.fenced
    assert result.outcome is Outcome.FAILED and result.error_class == "lost"
    assert result.exit_code == -9  # exactly how ffmpeg ended
    assert "fenced" in result.error and "fenced" in result.log_tail
    assert not alive(run.ffmpeg_pid)


async def test_renewals_keep_it_running(tmp_path: Path) -> None:
    seen: list[ProgressInfo] = []
    run = FfmpegRun(
        make_run(LONG, tmp_path / "o.ts", seen).argv,
        duration_s=3600,
        on_progress=seen.append,
        output_path=tmp_path / "o.ts",
        deadline=time.monotonic() + 1.0,
    )
    await run.start()
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        run.renew(time.monotonic() + 1.0)
        await asyncio.sleep(0.2)
    assert alive(run.ffmpeg_pid) and not run.fenced
    run.renew(None)  # no deadline at all
    await asyncio.sleep(1.5)
    assert alive(run.ffmpeg_pid)
    await run.kill()
    result = await run.wait()
    assert result.outcome is Outcome.CANCELED and not alive(run.ffmpeg_pid)


async def test_closed_pipe_kills_ffmpeg(tmp_path: Path) -> None:
    seen: list[ProgressInfo] = []
    run = make_run(LONG, tmp_path / "o.ts", seen)
    await run.start()
    await _until(lambda: run.ffmpeg_pid is not None)
    proc = run._process
    assert proc is not None and proc.stdin is not None
    proc.stdin.close()  # what the kernel does when the worker dies
    result = await asyncio.wait_for(run.wait(), 20)
    assert run.fenced and result.error_class == "lost" and result.exit_code == -9
    assert not alive(run.ffmpeg_pid)


async def test_deadline_already_passed_never_starts_ffmpeg(tmp_path: Path) -> None:
    seen: list[ProgressInfo] = []
    run = FfmpegRun(
        make_run(LONG, tmp_path / "o.ts", seen).argv,
        duration_s=3600,
        on_progress=seen.append,
        output_path=tmp_path / "o.ts",
        deadline=time.monotonic() - 1.0,
    )
    await run.start()
    result = await asyncio.wait_for(run.wait(), 20)
    assert run.fenced and run.ffmpeg_pid is None
    assert result.outcome is Outcome.FAILED and result.error_class == "lost"


async def _exit_of(code: str, tmp_path: Path) -> int:
    argv = [sys.executable, "-S", "-c", code]
    run = FfmpegRun(
        argv,
        duration_s=0,
        on_progress=lambda p: None,
        output_path=None,
        deadline=time.monotonic() + 60,
    )
    await run.start()
    return (await asyncio.wait_for(run.wait(), 20)).exit_code


async def test_exit_status_passes_through_exactly(tmp_path: Path) -> None:
    assert await _exit_of("raise SystemExit(3)", tmp_path) == 3
    assert await _exit_of("import os,signal; os.kill(os.getpid(), signal.SIGSEGV)", tmp_path) == -11
    assert await _exit_of("pass", tmp_path) == 0


async def test_kill_during_spawn_wins(tmp_path: Path) -> None:
    # The defect: a stop that lands while create_subprocess_exec is in flight was lost.
    seen: list[ProgressInfo] = []
    run = make_run(LONG, tmp_path / "o.ts", seen)
    starting = asyncio.create_task(run.start())
    await asyncio.sleep(0)  # start() is now inside the spawn
    await run.kill()
    await starting
    result = await asyncio.wait_for(run.wait(), 20)
    assert result.outcome is Outcome.CANCELED
    assert not seen or seen[-1].out_time_s < 5
    assert not alive(run.ffmpeg_pid)


def test_launcher_needs_only_the_stdlib() -> None:
    # It runs as `python -S script`: no site-packages, no ffrtmp.
    text = Path(fence_launcher.__file__).read_text()
    assert "import ffrtmp" not in text and "from ffrtmp" not in text
