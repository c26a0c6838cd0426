"""An upload's file, written and hashed by one thread of its own while the event
loop receives the next chunks.

`write` into the page cache may block for tens of milliseconds when the kernel
holds writers back (much dirty data waiting for the disk). With one chunk in
flight, each such stall stopped the stream; a bounded queue of a few chunks
lets the stream keep arriving while the disk catches up. One thread for the
whole upload also replaces a thread hand-off per chunk. The thread is not one
of the default executor's, which an upload would hold for its whole length.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, BinaryIO

DEPTH = 8  # chunks queued at most (8 MiB of 1 MiB messages) per upload


class Spool:
    def __init__(self, f: BinaryIO, h: Any, depth: int = DEPTH) -> None:
        self._f = f
        self._h = h
        self._loop = asyncio.get_running_loop()
        self._q: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._room = asyncio.Semaphore(depth)
        self._depth = depth
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._closed = False
        threading.Thread(target=self._run, name="blob-spool", daemon=True).start()

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            while (data := self._q.get()) is not None:
                self._f.write(data)
                self._h.update(data)
                self._loop.call_soon_threadsafe(self._room.release)
        except BaseException as exc:  # handed to the loop; raised by put/close
            error = exc
        self._loop.call_soon_threadsafe(self._finish, error)

    def _finish(self, error: BaseException | None) -> None:
        if error is None:
            self._done.set_result(None)
        else:
            self._done.set_exception(error)
            for _ in range(self._depth):  # wake a put waiting for room
                self._room.release()

    async def put(self, data: bytes) -> None:
        """Queue a chunk; waits while `depth` chunks are queued. Raises what
        the writer failed with."""
        if self._done.done():
            await self._done
            raise RuntimeError("the spool is closed")
        await self._room.acquire()
        if self._done.done():
            await self._done
        self._q.put(data)

    async def close(self) -> None:
        """Write what is queued, stop the thread; raises what it failed with.
        A cancelled caller still waits until the thread let go of the file
        (the caller syncs and closes it next), then is cancelled."""
        if not self._closed:
            self._closed = True
            self._q.put(None)
        cancelled = False
        while not self._done.done():
            try:
                await asyncio.wait([self._done])
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        self._done.result()
