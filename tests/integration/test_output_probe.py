"""The output probe against the real ffmpeg: it reaps its own process and no one
else's, so asyncio never has to guess an exit status ("Unknown child process")."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
from pathlib import Path

import pytest

from ffrtmp.worker.ffmpeg import find_ffmpeg
from ffrtmp.worker.output_probe import probe_output

FFMPEG = find_ffmpeg(os.environ.get("FFRTMP_FFMPEG"))


async def test_probes_never_leave_asyncio_guessing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clip = tmp_path / "c.mp4"
    subprocess.run(
        [
            FFMPEG,
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=5",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(clip),
        ],
        check=True,
    )
    caplog.set_level(logging.WARNING, logger="asyncio")
    infos = await asyncio.gather(*(probe_output(FFMPEG, clip, 1) for _ in range(40)))
    assert all(i is not None and i.format for i in infos)
    guessed = [r.getMessage() for r in caplog.records if "Unknown child process" in r.getMessage()]
    assert not guessed, guessed[:3]
