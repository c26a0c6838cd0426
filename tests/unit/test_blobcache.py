"""The worker's input cache: bounded, least recently used out, pinned while read,
verified, and refusing (not failing) when full."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from ffrtmp.worker.blobcache import CacheFull, InputCache, TooLarge
from ffrtmp.worker.environment import Refused


def _blob(n: int, fill: bytes = b"x") -> tuple[str, bytes]:
    data = fill * n
    return hashlib.sha256(data).hexdigest(), data


class Store:
    """What the worker's blob client does for the cache: write the blob's bytes."""

    def __init__(self, *blobs: tuple[str, bytes]) -> None:
        self.blobs = dict(blobs)
        self.fetched: list[str] = []
        self.gate: asyncio.Event | None = None

    async def fetch(self, digest: str, dest: Path) -> None:
        self.fetched.append(digest)
        if self.gate is not None:
            await self.gate.wait()
        dest.write_bytes(self.blobs[digest])


def _cache(tmp_path: Path, max_bytes: int) -> InputCache:
    c = InputCache(tmp_path / "cache", max_bytes)
    c.sweep()
    return c


async def test_second_use_is_a_hit_and_the_file_is_the_blob(tmp_path: Path) -> None:
    a = _blob(100)
    store, cache = Store(a), _cache(tmp_path, 1000)
    for _ in range(2):
        async with cache.use(a[0], 100, store.fetch) as path:
            assert path.read_bytes() == a[1]
    assert store.fetched == [a[0]]


async def test_least_recently_used_goes_first(tmp_path: Path) -> None:
    a, b, c = _blob(400, b"a"), _blob(400, b"b"), _blob(400, b"c")
    store, cache = Store(a, b, c), _cache(tmp_path, 1000)
    for blob in (a, b, a, c):  # a was used after b: b is the one evicted
        async with cache.use(blob[0], 400, store.fetch):
            pass
    assert cache.path(a[0]).exists() and cache.path(c[0]).exists()
    assert not cache.path(b[0]).exists() and cache.used == 800


async def test_a_pinned_input_is_never_evicted_and_a_full_cache_refuses(tmp_path: Path) -> None:
    a, b = _blob(600, b"a"), _blob(600, b"b")
    store, cache = Store(a, b), _cache(tmp_path, 1000)
    changes: list[bool] = []
    cache.on_change = lambda: changes.append(cache.full)
    async with cache.use(a[0], 600, store.fetch) as path:
        with pytest.raises(CacheFull) as info:
            async with cache.use(b[0], 600, store.fetch):
                pass
        assert isinstance(info.value, Refused)  # transient: another worker may take it
        assert path.exists() and cache.full and changes == [True]
    assert not cache.full and changes == [True, False]  # a pin went: room may be made
    async with cache.use(b[0], 600, store.fetch):  # unpinned now: a goes
        assert not cache.path(a[0]).exists()


async def test_an_input_larger_than_the_cache_is_refused(tmp_path: Path) -> None:
    a = _blob(2000)
    cache = _cache(tmp_path, 1000)
    with pytest.raises(TooLarge, match="larger than") as info:
        async with cache.use(a[0], 2000, Store(a).fetch):
            pass
    assert not isinstance(info.value, CacheFull) and isinstance(info.value, Refused)
    assert not cache.full  # waiting would not help: the worker still takes other jobs


async def test_wrong_bytes_are_refused_and_nothing_stays(tmp_path: Path) -> None:
    a = _blob(100)
    store, cache = Store((a[0], b"not the blob")), _cache(tmp_path, 1000)
    with pytest.raises(Refused, match="arrived with digest"):
        async with cache.use(a[0], 100, store.fetch):
            pass
    assert list(cache.root.iterdir()) == [] and cache.used == 0


async def test_concurrent_runs_share_one_download(tmp_path: Path) -> None:
    a = _blob(100)
    store, cache = Store(a), _cache(tmp_path, 1000)
    store.gate = asyncio.Event()

    async def read() -> bytes:
        async with cache.use(a[0], 100, store.fetch) as path:
            return path.read_bytes()

    runs = [asyncio.ensure_future(read()) for _ in range(3)]
    await asyncio.sleep(0.01)
    store.gate.set()
    assert await asyncio.gather(*runs) == [a[1]] * 3
    assert store.fetched == [a[0]]


async def test_sweep_removes_a_previous_life(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    (root / ("0" * 64)).write_bytes(b"stale")
    InputCache(root, 1000).sweep()
    assert list(root.iterdir()) == []


async def test_an_s3_partial_of_a_failed_download_is_kept_counted_and_dropped_first(
    tmp_path: Path,
) -> None:
    """hashed=False (an s3:// input): the partial of a transient failure stays for
    the next attempt to resume, counted in the cache's bytes; a digest-checked
    blob's does not; room for other inputs is made by dropping it first."""
    cache = _cache(tmp_path, 1000)

    async def cut(_: str, dest: Path) -> None:
        dest.write_bytes(b"y" * 300)
        raise Refused("cut")

    for hashed in (True, False):
        with pytest.raises(Refused, match="cut"):
            async with cache.use("s3entry", 600, cut, hashed=hashed):
                pass
    partial = cache.root / ".s3entry.partial"
    assert partial.read_bytes() == b"y" * 300 and cache.used == 300

    async def rest(_: str, dest: Path) -> None:
        assert dest.read_bytes() == b"y" * 300  # what the resume builds on
        with dest.open("ab") as f:
            f.write(b"y" * 300)

    async with cache.use("s3entry", 600, rest, hashed=False) as path:
        assert path.read_bytes() == b"y" * 600 and cache.used == 600
    with pytest.raises(Refused, match="cut"):
        async with cache.use("other", 400, cut, hashed=False):
            pass
    assert cache.used == 900  # 600 ready + 300 kept
    a = _blob(500)
    async with cache.use(a[0], 500, Store(a).fetch):
        assert not (cache.root / ".other.partial").exists()  # the kept partial went first
    assert cache.used == 500 and (cache.root / "s3entry").exists() is False
