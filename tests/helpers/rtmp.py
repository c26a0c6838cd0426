"""A real RTMP receiver: ffmpeg in listen mode, recording what it is sent."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tests.helpers.media import ffmpeg_under_test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtmpReceiver:
    """Accepts one publisher on rtmp://127.0.0.1:PORT/APP/STREAM and writes an FLV."""

    def __init__(self, port: int, app: str, stream: str, out: Path, timeout_s: int = 60) -> None:
        self.url = f"rtmp://127.0.0.1:{port}/{app}/{stream}"
        self.out = out
        self.proc = subprocess.Popen(
            [
                ffmpeg_under_test(),
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "warning",
                "-listen",
                "1",
                "-timeout",
                str(timeout_s),
                "-i",
                self.url,
                "-c",
                "copy",
                "-f",
                "flv",
                "-y",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
