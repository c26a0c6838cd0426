"""The worker and the ffmpeg build it is given: refused below the minimum, and
reported to the master (and `ffrtmp nodes list`) by its short version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ffrtmp.core.ffmpeg_build import parse_version
from tests.helpers.cluster import Cluster
from tests.helpers.media import ffmpeg_under_test

pytestmark = pytest.mark.media

# Stands in for a 4.2 build (no such binary ships with the test dependencies): the
# worker decides on the `-version` banner alone, before it runs anything else.
OLD_FFMPEG = """#!/bin/sh
echo "ffmpeg version 4.2.2-static https://example.org/ffmpeg/  Copyright (c) 2000-2019"
echo "libavutil      56. 31.100 / 56. 31.100"
"""


def worker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ffrtmp.worker.main", "--metrics-port", "-1", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_worker_refuses_an_ffmpeg_below_the_minimum(tmp_path: Path) -> None:
    old = tmp_path / "ffmpeg"
    old.write_text(OLD_FFMPEG)
    old.chmod(0o755)
    done = worker("--ffmpeg", str(old), "--output-root", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    # One line naming the binary, the version found, the minimum and the way out.
    assert "Traceback" not in message and len(message.splitlines()) == 1
    for part in (str(old), "version 4.2.2", "4.4 or newer", "--ffmpeg"):
        assert part in message, message


def test_worker_refuses_a_build_without_progress_output(tmp_path: Path) -> None:
    # The real binary, except that its -progress runs fail (as on a build without lavfi).
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" -progress "*) echo "no lavfi" >&2; exit 1;; esac\n'
        f'exec "{ffmpeg_under_test()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    done = worker("--ffmpeg", str(wrapper), "--output-root", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "lacks -progress output with out_time" in done.stderr and "--ffmpeg" in done.stderr


def test_nodes_list_shows_the_short_version(cluster: Cluster) -> None:
    text = subprocess.run(
        [ffmpeg_under_test(), "-version"], capture_output=True, text=True, check=True
    ).stdout
    short = parse_version(text).short
    r = cluster.cli("-o", "json", "nodes", "list")
    assert r.returncode == 0, r.stderr
    assert {n["ffmpeg_version"] for n in json.loads(r.stdout)} == {short}
    r = cluster.cli("nodes", "list")
    assert r.returncode == 0, r.stderr
    assert short in r.stdout and "Copyright" not in r.stdout and "ffmpeg version" not in r.stdout
