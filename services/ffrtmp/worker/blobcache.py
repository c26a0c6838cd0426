"""The worker's bounded cache of input blobs, by digest, least recently used first out.

A job whose input is a blob (`blob:sha256:<hex>`) reads it from here: the first
run that needs it downloads it (the transfer library verifies the digest; the
cache hashes it again before it names the file ready), later runs on this worker
reuse it. Entries that a run is reading are pinned; the others are evicted oldest
first to make room. When nothing can be evicted the run is refused — a transient
refusal another worker may take — rather than failing the job or overfilling the
disk. Everything in the cache directory is deleted at start: a file of a previous
life is not trusted.

The partial file of an `s3://` input whose download failed for now is kept (its
bytes counted, dropped first when room is needed), so that the next run of the
same object version on this worker resumes it rather than starting again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ffrtmp.worker.environment import Refused

log = logging.getLogger("ffrtmp.worker")

# Downloads `digest` into the path given (created or resumed; verified): the blob
# client bound to this job's lease.
Fetch = Callable[[str, Path], Awaitable[None]]
HASH_CHUNK = 1 << 20


class CacheFull(Refused):
    """No room for this input while other runs read what the cache holds."""


class TooLarge(Refused):
    """The input is larger than this worker's whole cache: waiting will not help
    here, another worker (a larger cache) may take it."""


@dataclass(slots=True)
class _Entry:
    size: int
    pins: int = 0
    ready: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class InputCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # oldest use first
        self._kept: OrderedDict[str, int] = OrderedDict()  # partials kept to resume
        self.used = 0  # bytes reserved: ready entries and downloads under way
        # Set when a run was refused for want of room, cleared when a pin goes:
        # while set the worker tells the master it takes no new jobs.
        self.full = False
        self.on_change: Callable[[], None] = lambda: None

    def sweep(self) -> None:
        """Start empty: remove whatever a previous run of the worker left."""
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self._entries.clear()
        self._kept.clear()
        self.used = 0

    def path(self, digest: str) -> Path:
        return self.root / digest

    @asynccontextmanager
    async def use(
        self, digest: str, size: int, fetch: Fetch, *, hashed: bool = True
    ) -> AsyncIterator[Path]:
        """The blob's local path, pinned while the block runs. `hashed=False`: the
        entry's name is no SHA-256 of its bytes (an s3:// input's, which `fetch`
        checks itself: s3input.py)."""
        entry = await self._acquire(digest, size, fetch, hashed)
        try:
            yield self.path(digest)
        finally:
            entry.pins -= 1
            if self.full and entry.pins == 0:
                self.full = False  # room may be made again: take work again
                self.on_change()

    async def _acquire(self, digest: str, size: int, fetch: Fetch, hashed: bool) -> _Entry:
        entry = self._entries.get(digest)
        if entry is not None:
            entry.pins += 1
            self._entries.move_to_end(digest)
            try:
                await asyncio.shield(entry.ready)  # another run may be downloading it
            except BaseException:
                entry.pins -= 1
                raise
            return entry
        kept = self._kept.pop(digest, 0)  # its partial is resumed, within the reservation
        self.used -= kept
        try:
            self._make_room(size)
        except Refused:  # full, or too large: the partial stays kept
            self._kept[digest] = kept
            self.used += kept
            raise
        entry = _Entry(size, pins=1)
        self._entries[digest] = entry
        self.used += size
        try:
            await self._download(digest, fetch, hashed)
        except BaseException as exc:
            self._forget(digest, keep_partial=not hashed and isinstance(exc, Refused))
            if not entry.ready.done():
                entry.ready.set_exception(
                    exc if isinstance(exc, Exception) else Refused("download stopped")
                )
                entry.ready.exception()  # retrieved: no "never retrieved" warning
            raise
        entry.ready.set_result(None)
        return entry

    def _make_room(self, size: int) -> None:
        try:
            self._evict_for(size)
        except CacheFull:
            if not self.full:
                self.full = True
                self.on_change()
            raise

    def _evict_for(self, size: int) -> None:
        if size > self.max_bytes:
            raise TooLarge(
                f"input of {size} bytes is larger than this worker's input cache"
                f" ({self.max_bytes} bytes)"
            )
        while self._kept and self.used + size > self.max_bytes:
            digest, kept = self._kept.popitem(last=False)
            self.used -= kept
            self._partial(digest).unlink(missing_ok=True)
        for digest in list(self._entries):
            if self.used + size <= self.max_bytes:
                return
            e = self._entries[digest]
            if e.pins == 0 and e.ready.done():
                log.info("input cache: evicting %s (%d bytes)", digest[:12], e.size)
                self._forget(digest)
        if self.used + size > self.max_bytes:
            raise CacheFull(
                f"input cache full: {self.used} of {self.max_bytes} bytes held by running jobs"
            )

    def _forget(self, digest: str, *, keep_partial: bool = False) -> None:
        e = self._entries.pop(digest, None)
        if e is not None:
            self.used -= e.size
        self.path(digest).unlink(missing_ok=True)
        partial = self._partial(digest)
        kept = partial.stat().st_size if keep_partial and partial.exists() else 0
        if kept:
            self._kept[digest] = kept
            self.used += kept
        else:
            partial.unlink(missing_ok=True)

    def _partial(self, digest: str) -> Path:
        return self.root / f".{digest}.partial"

    async def _download(self, digest: str, fetch: Fetch, hashed: bool) -> None:
        partial = self._partial(digest)
        await fetch(digest, partial)
        got = await asyncio.to_thread(_sha256, partial) if hashed else digest
        if got != digest:
            # Transient: the next attempt downloads it again.
            raise Refused(f"input blob {digest[:12]} arrived with digest {got[:12]}")
        partial.rename(self.path(digest))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()
