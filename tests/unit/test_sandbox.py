"""The worker's own checks on what a job may touch, independent of the master's."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp.core.model import JobSpec
from ffrtmp.worker.contact import Contact
from ffrtmp.worker.paths import PathRefused, resolve_io


def _spec(input: str = "lavfi:testsrc2", output: str = "") -> JobSpec:
    return JobSpec("test", "default", "medium", input, output, "h264", "200k", 320, 240, 10,
                   1, False, "ultrafast")


def _io(spec: JobSpec, tmp: Path):  # type: ignore[no-untyped-def]
    return resolve_io(spec, "j1", input_root=tmp / "in", output_root=tmp / "out",
                      rtmp_base="rtmp://127.0.0.1/live")


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "ok.mp4").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("keep out")
    (tmp_path / "in" / "escape.mp4").symlink_to(tmp_path / "secret.txt")
    (tmp_path / "out" / "link").symlink_to(tmp_path)
    return tmp_path


@pytest.mark.parametrize("bad_input", [
    "../secret.txt", "sub/../../secret.txt", "/etc/passwd", "escape.mp4",
    "lavfi:movie=/etc/passwd", "lavfi:amovie=x.wav",
])
def test_inputs_that_escape_are_refused(roots: Path, bad_input: str) -> None:
    with pytest.raises(PathRefused):
        _io(_spec(input=bad_input), roots)


@pytest.mark.parametrize("bad_output", ["../x.mp4", "/tmp/x.mp4", "link/x.mp4"])
def test_outputs_that_escape_are_refused(roots: Path, bad_output: str) -> None:
    with pytest.raises(PathRefused):
        _io(_spec(output=bad_output), roots)


def test_inside_the_roots_is_fine(roots: Path) -> None:
    io = _io(_spec(input="ok.mp4", output="a/b.mp4"), roots)
    assert io.input_url == str((roots / "in" / "ok.mp4").resolve())
    assert io.output_path == (roots / "out" / "a" / "b.mp4").resolve()


def test_unknown_schemes_become_paths_under_the_root(roots: Path) -> None:
    # Only http(s), rtmp(s) and srt are URLs to the worker; anything else is a
    # (harmless, missing) file name under its input root.
    io = _io(_spec(input="file:secret.txt"), roots)
    assert io.input_url.startswith(str((roots / "in").resolve()))


def test_fence_deadline_follows_the_last_acknowledged_heartbeat() -> None:
    c = Contact()
    assert c.fence_deadline() is None
    c.welcomed(100.0, 1.0, 8.0)
    assert c.fence_deadline() == 106.0
    first = c.heartbeat(101.0)
    second = c.heartbeat(102.0)
    c.acked(second)
    assert c.fence_deadline() == 108.0
    c.acked(first)  # a late ack of an older heartbeat moves nothing back
    assert c.fence_deadline() == 108.0
    c.acked(999)  # unknown
    assert c.fence_deadline() == 108.0

