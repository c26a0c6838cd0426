"""Which --input the CLI uploads, and where `jobs fetch` may write."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp.cli.transfers import Refused, _target, local_input


def test_a_path_that_looks_local_is_uploaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    movie = tmp_path / "movie.mp4"
    movie.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert local_input("./movie.mp4") == Path("movie.mp4")
    assert local_input(str(movie)) == movie
    # A plain relative path is still a file under the worker's input root; URLs,
    # blobs and lavfi sources are sent as they are.
    for kept in ("movie.mp4", "in/movie.mp4", "https://h/x.mp4", "lavfi:testsrc2",
                 "blob:sha256:" + "a" * 64):
        assert local_input(kept) is None


def test_a_missing_local_file_is_an_error_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="no such local file"):
        local_input(str(tmp_path / "nope.mp4"))
    with pytest.raises(Refused):
        local_input(str(tmp_path))  # a directory is not a file to upload


@pytest.mark.parametrize("bad", ["../x.mp4", "/etc/passwd", "a//b.ts", "a/./b.ts", "", "a\\b"])
def test_fetch_never_writes_outside_its_directory(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        _target(tmp_path, bad)
    assert _target(tmp_path, "show/v0/seg_1.ts") == tmp_path / "show" / "v0" / "seg_1.ts"
