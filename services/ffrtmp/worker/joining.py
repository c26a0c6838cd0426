"""A join on this worker: the parts it concatenates are either blobs the
segments stored (fetched from the media store: workers need share no
directory) or outputs under its output root (workers sharing one). The parts
fetched and the concat demuxer's list go to a hidden partial directory beside
the output, removed after the run (and swept at start if the worker died)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ffrtmp.core.blobref import assigned_resource
from ffrtmp.core.join import concat_list
from ffrtmp.core.model import JobSpec, Lease
from ffrtmp.worker.blobio import Media, guard_read
from ffrtmp.worker.environment import Refused
from ffrtmp.worker.paths import inside
from ffrtmp.worker.staging import partial_dir, remove

PARALLEL = 4  # parts fetched at once


async def gather_parts(
    spec: JobSpec, output_root: Path, output: Path, media: Media | None, lease: Lease
) -> tuple[Path, Path]:
    """(the concat list, the working directory to remove after the run)."""
    work = partial_dir(output, lease, tag="parts.partial")
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    try:
        parts = await _parts(spec, output_root, work, media, lease)
        listing = work / "parts.txt"
        await asyncio.to_thread(listing.write_text, concat_list(parts), "utf-8")
    except BaseException:
        await asyncio.to_thread(remove, work)
        raise
    return listing, work


async def _parts(
    spec: JobSpec, output_root: Path, work: Path, media: Media | None, lease: Lease
) -> list[Path]:
    gate = asyncio.Semaphore(PARALLEL)

    async def fetch(i: int, resource: str) -> Path:
        if media is None:
            raise Refused("this worker has no media store client to fetch the parts to join")
        dest = work / f"{i:05d}.mp4"
        async with gate:
            await guard_read(media.access.download(resource, dest, lease))
        return dest

    blobs = {i: r for i, part in enumerate(spec.concat) if (r := assigned_resource(part))}
    fetched = dict(zip(blobs, await asyncio.gather(*(fetch(i, r) for i, r in blobs.items())),
                       strict=True))
    local = {i: inside(output_root, part, "output")
             for i, part in enumerate(spec.concat) if i not in blobs}
    missing = [spec.concat[i] for i, p in local.items() if not p.is_file()]
    if missing:
        # Transient: another worker (one that sees the parts) may run the join.
        raise Refused(
            f"{len(missing)} of {len(spec.concat)} parts to join are not on this worker"
            f" (first: {missing[0]!r})"
        )
    return [fetched[i] if i in fetched else local[i] for i in range(len(spec.concat))]


def drop_parts(work: Path) -> None:
    """After the run: the fetched parts and the list go."""
    remove(work)
