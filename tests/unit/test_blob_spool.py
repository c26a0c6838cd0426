"""The upload spool: chunks written and hashed in order by its thread, at most
`depth` queued, a writer's failure raised to the stream (never a hang), and the
file let go of before a cancelled close returns."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path
from typing import BinaryIO

import pytest

from ffrtmp.master.storage.blobs.spool import Spool


class Gated:
    """A real file whose writes wait for a gate and may fail at the n-th."""

    def __init__(self, f: BinaryIO, fail_at: int = 0) -> None:
        self.f = f
        self.gate = threading.Event()
        self.gate.set()
        self.writes = 0
        self.fail_at = fail_at

    def write(self, data: bytes) -> int:
        self.gate.wait(10)
        self.writes += 1
        if self.writes == self.fail_at:
            raise OSError(28, "No space left on device")
        return self.f.write(data)


async def test_chunks_are_written_and_hashed_in_order(tmp_path: Path) -> None:
    chunks = [os.urandom(n) for n in (1, 70_000, 0, 1 << 20, 5)]
    h = hashlib.sha256()
    with (tmp_path / "data").open("wb") as f:
        spool = Spool(f, h, depth=2)
        for c in chunks:
            await spool.put(c)
        await spool.close()
        await spool.close()  # twice is harmless
    whole = b"".join(chunks)
    assert (tmp_path / "data").read_bytes() == whole
    assert h.hexdigest() == hashlib.sha256(whole).hexdigest()


async def test_at_most_depth_chunks_wait_for_the_disk(tmp_path: Path) -> None:
    with (tmp_path / "data").open("wb") as f:
        slow = Gated(f)
        slow.gate.clear()
        spool = Spool(slow, hashlib.sha256(), depth=3)  # type: ignore[arg-type]
        for _ in range(3):
            await asyncio.wait_for(spool.put(b"x"), 5)
        fourth = asyncio.ensure_future(spool.put(b"y"))
        await asyncio.sleep(0.2)
        assert not fourth.done()  # the stream is held back, not buffered without bound
        slow.gate.set()
        await asyncio.wait_for(fourth, 5)
        await spool.close()
    assert (tmp_path / "data").read_bytes() == b"xxxy"


async def test_a_failed_write_reaches_the_stream_instead_of_a_hang(tmp_path: Path) -> None:
    with (tmp_path / "data").open("wb") as f:
        failing = Gated(f, fail_at=1)
        failing.gate.clear()
        spool = Spool(failing, hashlib.sha256(), depth=1)  # type: ignore[arg-type]
        await spool.put(b"z" * 1000)
        waiting = asyncio.ensure_future(spool.put(b"z" * 1000))  # no room: waits
        await asyncio.sleep(0.1)
        assert not waiting.done()
        failing.gate.set()  # the first write fails while the second put waits
        with pytest.raises(OSError, match="No space"):
            await asyncio.wait_for(waiting, 5)
        with pytest.raises(OSError, match="No space"):
            await spool.close()


async def test_a_cancelled_close_waits_for_the_writer(tmp_path: Path) -> None:
    with (tmp_path / "data").open("wb") as f:
        slow = Gated(f)
        spool = Spool(slow, hashlib.sha256())  # type: ignore[arg-type]
        slow.gate.clear()
        await spool.put(b"a" * 100)
        await spool.put(b"b" * 100)
        closing = asyncio.ensure_future(spool.close())
        await asyncio.sleep(0.1)
        closing.cancel()
        await asyncio.sleep(0.2)
        assert not closing.done()  # the thread still holds the file
        slow.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await closing
    assert (tmp_path / "data").read_bytes() == b"a" * 100 + b"b" * 100
