"""The finish of a split HLS job on this worker (core.split_hls): every part's
playlists and media segments, fetched from the media store (named from the
part's master playlist, which is the blob the job is given) or read where the
parts lie under a shared output root; then, once the staged output directory
exists, the media segments moved (or linked) into it under their new names and
the playlists written beside them."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ffrtmp.core.blobref import assigned_resource
from ffrtmp.core.hls_playlists import Audio, Ladder, Part, read_master, read_media, stitch
from ffrtmp.core.model import JobSpec, Lease
from ffrtmp.core.outputs import hls_layout
from ffrtmp.worker.blobio import Media, guard_read
from ffrtmp.worker.environment import Refused
from ffrtmp.worker.paths import inside

PARALLEL = 4  # files fetched at once


@dataclass(frozen=True, slots=True)
class Stitched:
    ladder: Ladder
    sources: list[Path]  # each part's directory
    fetched: bool  # the sources are this run's copies: moved, not linked

    def fill(self, directory: Path) -> None:
        """Lay the ladder out in `directory` (the staged output)."""
        for name, (i, uri) in self.ladder.files.items():
            src, dest = self.sources[i] / uri, directory / name
            if self.fetched:
                os.replace(src, dest)
            else:
                try:
                    os.link(src, dest)  # another job's output: never moved
                except OSError:
                    shutil.copyfile(src, dest)
        for name, text in self.ladder.playlists.items():
            (directory / name).write_text(text, "utf-8")


async def gather_ladder(
    spec: JobSpec, output_root: Path, work: Path, media: Media | None, lease: Lease,
    audio: Audio | None,
) -> Stitched:
    blobs = [assigned_resource(part) for part in spec.concat]
    if any(blobs) and not all(blobs):
        raise Refused("the parts are partly stored blobs and partly local outputs")
    if all(blobs):
        if media is None:
            raise Refused("this worker has no media store client to fetch the parts to join")
        gate = asyncio.Semaphore(PARALLEL)
        dirs = [work / f"{i:05d}" for i in range(len(blobs))]
        parts = await asyncio.gather(*(
            _fetch(media, lease, gate, str(r), d) for r, d in zip(blobs, dirs, strict=True)))
    else:
        dirs, parts = [], []
        for part in spec.concat:
            layout = hls_layout(part)
            where = inside(output_root, layout.directory, "output")
            if not (where / layout.master).is_file():
                # Transient: another worker (one that sees the parts) may run the join.
                raise Refused(f"the part {part!r} to join is not on this worker")
            dirs.append(where)
            parts.append(await asyncio.to_thread(_read_local, where, layout.master))
    layout = hls_layout(spec.output)
    try:
        ladder = stitch(list(parts), layout.stem, layout.master, audio)
    except ValueError as exc:
        raise Refused(f"the parts do not make one ladder: {exc}") from None
    return Stitched(ladder, dirs, fetched=all(blobs))


def _parse(master: str, medias: list[str]) -> Part:
    try:
        return Part(read_master(master), tuple(read_media(m) for m in medias))
    except ValueError as exc:
        raise Refused(f"a part's playlist is unusable: {exc}") from None


def _read_local(where: Path, master: str) -> Part:
    try:
        text = (where / master).read_text("utf-8")
        return _parse(text, [(where / v.uri).read_text("utf-8") for v in read_master(text)])
    except (OSError, ValueError) as exc:
        raise Refused(f"a part's playlist is unusable: {exc}") from None


async def _fetch(
    media: Media, lease: Lease, gate: asyncio.Semaphore, master: str, dest: Path
) -> Part:
    """One part from the store: its master playlist, then the media playlists it
    names, then their segments (all beside it, under the same prefix)."""
    base, name = master.rsplit("/", 1)
    await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)

    async def get(file: str) -> str:
        async with gate:
            await guard_read(media.access.download(f"{base}/{file}", dest / file, lease))
        return await asyncio.to_thread((dest / file).read_text, "utf-8", "replace")

    master_text = await get(name)
    try:
        variants = read_master(master_text)
    except ValueError as exc:
        raise Refused(f"a part's playlist is unusable: {exc}") from None
    medias = list(await asyncio.gather(*(get(v.uri) for v in variants)))
    part = _parse(master_text, medias)

    async def segment(file: str) -> None:
        async with gate:
            await guard_read(media.access.download(f"{base}/{file}", dest / file, lease))

    await asyncio.gather(*(segment(s.uri) for m in part.media for s in m))
    return part
