"""error_line: the one stderr line that says why a run failed."""

from __future__ import annotations

import pytest

from ffrtmp.worker.ffmpeg_log import error_line


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            [
                "[http @ 0x5] Stream ends prematurely at 48, should be 172693",
                "[aac @ 0x555db86b7880] Qavg: nan",  # statistics, printed at every exit
                "Conversion failed!",
            ],
            "[http @ 0x5] Stream ends prematurely at 48, should be 172693",
        ),
        (
            ["in.mp4: No such file or directory", "[libx264 @ 0xab] kb/s:226.21"],
            "in.mp4: No such file or directory",
        ),
        (["frame=  10 fps=0.0", "Exiting normally, received signal 15."], ""),
    ],
)
def test_error_line_skips_noise(lines: list[str], expected: str) -> None:
    assert error_line(lines) == expected
