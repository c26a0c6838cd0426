"""A join on this worker: the parts it concatenates are either blobs the
segments stored (fetched from the media store: workers need share no
directory) or outputs under its output root (workers sharing one). The parts
fetched and the concat demuxer's list go to a hidden partial directory beside
the output, removed after the run (and swept at start if the worker died).
A split HLS job's finish gathers its parts in worker.hls_join instead."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ffrtmp.core.blobref import assigned_resource
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.hls_finish import audio_rendition, finish_argv
from ffrtmp.core.join import concat_list, join_argv, video_parts
from ffrtmp.core.model import JobSpec, Lease
from ffrtmp.core.outputs import OutputKind, output_kind
from ffrtmp.worker.blobio import Media, guard_read
from ffrtmp.worker.environment import Environment, Refused
from ffrtmp.worker.hls_join import gather_ladder
from ffrtmp.worker.paths import inside
from ffrtmp.worker.staging import Staged, partial_dir, remove

PARALLEL = 4  # parts fetched at once


def _nothing(directory: Path) -> None:
    pass


@dataclass(frozen=True, slots=True)
class JoinRun:
    argv: list[str]
    work: Path  # removed after the run (drop_parts)
    fill: Callable[[Path], None] = _nothing  # lays out the staged output before ffmpeg


async def prepare_join(
    spec: JobSpec, env: Environment, staged: Staged, media: Media | None, lease: Lease,
    urls: tuple[str, str], has_audio: bool, features: FfmpegFeatures,
) -> JoinRun:
    """What a join runs: `urls` are the input's and the (staged) output's."""
    if output_kind(spec.output, False) is not OutputKind.HLS:
        listing, work, part = await gather_parts(spec, env.output_root, staged.final, media,
                                                 lease)
        argv = join_argv(env.ffmpeg, spec, list_path=str(listing), input_url=urls[0],
                         output_url=urls[1], has_audio=has_audio, features=features,
                         audio_part=str(part or ""))
        return JoinRun(argv, work)
    work = partial_dir(staged.final, lease, tag="parts.partial")
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    try:
        audio = audio_rendition(spec, has_audio)
        ladder = await gather_ladder(spec, env.output_root, work, media, lease, audio)
    except BaseException:
        await asyncio.to_thread(remove, work)
        raise
    argv = finish_argv(env.ffmpeg, spec, input_url=urls[0], directory=str(staged.partial),
                       audio=audio, features=features)
    return JoinRun(argv, work, ladder.fill)


async def gather_parts(
    spec: JobSpec, output_root: Path, output: Path, media: Media | None, lease: Lease
) -> tuple[Path, Path, Path | None]:
    """(the concat list of the video parts, the working directory to remove
    after the run, the audio part if the split encoded one)."""
    work = partial_dir(output, lease, tag="parts.partial")
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    try:
        video, audio = video_parts(spec, await _parts(spec, output_root, work, media, lease))
        listing = work / "parts.txt"
        await asyncio.to_thread(listing.write_text, concat_list(video), "utf-8")
    except BaseException:
        await asyncio.to_thread(remove, work)
        raise
    return listing, work, audio


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
