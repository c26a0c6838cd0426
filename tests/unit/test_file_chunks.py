"""The upload's reader: a file's bytes from an offset (a resume) in CHUNK pieces,
one empty piece for nothing left, and an error when the file changed size."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ffrtmp.client.blobref import CHUNK, TransferError, file_chunks


async def _all(path: Path, offset: int, size: int) -> list[bytes]:
    return [b async for b in file_chunks(path, offset, size)]


async def test_pieces_from_an_offset_cover_the_rest(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK + 123)
    (tmp_path / "f").write_bytes(data)
    whole = await _all(tmp_path / "f", 0, len(data))
    assert [len(b) for b in whole] == [CHUNK, CHUNK, 123]
    assert b"".join(whole) == data
    rest = await _all(tmp_path / "f", CHUNK + 5, len(data))
    assert b"".join(rest) == data[CHUNK + 5 :]
    assert await _all(tmp_path / "f", len(data), len(data)) == [b""]  # all kept: finish only


async def test_empty_file_is_one_empty_piece(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    assert await _all(tmp_path / "f", 0, 0) == [b""]


async def test_a_file_that_changed_size_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 100)
    with pytest.raises(TransferError, match="grew"):
        await _all(tmp_path / "f", 0, 50)
    with pytest.raises(TransferError, match="shrank"):
        await _all(tmp_path / "f", 0, 150)
