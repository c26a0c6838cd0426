"""The local backend's housekeeping: whole jobs, usage, expiry, what is held."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

from ffrtmp.core import blobnames
from ffrtmp.core.errors import InvalidArgument

META = "meta.json"


class LocalUpkeep:
    objects: Path
    partial: Path
    _locks: dict[str, asyncio.Lock]

    def _remove(self, where: Path) -> bool:
        if not where.exists():
            return False
        # Renamed away first: a reader never sees a blob without its data.
        gone = self.partial / f".deleting-{os.getpid()}-{time.monotonic_ns()}"
        os.rename(where, gone)
        shutil.rmtree(gone, ignore_errors=True)
        return True

    async def delete_job(self, job_id: str) -> int:
        if not blobnames.JOB_RE.fullmatch(job_id):
            raise InvalidArgument("job_id", "not a job id")
        where = self.objects / "jobs" / job_id
        return await asyncio.to_thread(self._remove_tree, where)

    def _remove_tree(self, where: Path) -> int:
        count = sum(1 for _ in where.glob(f"*/*/{META}")) if where.exists() else 0
        self._remove(where)
        return count

    async def usage(self, owner: str) -> int:
        return await asyncio.to_thread(self._usage, self.objects / "owners" / owner)

    async def job_ids(self) -> list[str]:
        return await asyncio.to_thread(self._dirs, self.objects / "jobs")

    async def owner_blobs(self) -> list[tuple[str, int]]:
        return await asyncio.to_thread(self._owner_blobs)

    @staticmethod
    def _dirs(where: Path) -> list[str]:
        return sorted(p.name for p in where.iterdir()) if where.exists() else []

    def _owner_blobs(self) -> list[tuple[str, int]]:
        out = []
        for meta in (self.objects / "owners").glob(f"*/*/{META}"):
            try:
                out.append(
                    (
                        f"owners/{meta.parent.parent.name}/blobs/{meta.parent.name}",
                        int(json.loads(meta.read_text())["created_ms"]),
                    )
                )
            except (OSError, ValueError, KeyError):
                continue
        return out

    def _usage(self, where: Path) -> int:
        total = 0
        for meta in where.glob(f"*/{META}"):
            try:
                total += json.loads(meta.read_text())["size"]
            except (OSError, ValueError, KeyError):
                continue
        return total

    async def expire_partials(self, older_than_s: float) -> int:
        return await asyncio.to_thread(self._expire, time.time() - older_than_s)

    def _expire(self, cutoff: float) -> int:
        dropped = 0
        for pdir in self.partial.iterdir():
            try:
                stale = pdir.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if stale and pdir.name not in self._locks:
                shutil.rmtree(pdir, ignore_errors=True)
                dropped += 1
        return dropped
