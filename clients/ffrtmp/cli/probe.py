"""What a split needs to know of its input before it is planned: its length.
The CLI finds it with ffprobe when the input is a file it can read at the
same path (the farm's shared input root, or the file about to be uploaded)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def input_length(path: str) -> float | None:
    """Seconds, or None when the file is not here or ffprobe cannot tell."""
    probe = shutil.which("ffprobe")
    if probe is None or not Path(path).is_file():
        return None
    try:
        out = subprocess.run(
            [probe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
            capture_output=True, text=True, timeout=60, check=False,
        ).stdout.strip()
        seconds = float(out)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return seconds if seconds > 0 else None
