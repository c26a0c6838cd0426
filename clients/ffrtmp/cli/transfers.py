"""Moving a job's media from the CLI: a local input uploaded before the submit,
and a finished job's artifacts fetched back (`ffrtmp jobs fetch`).

Both go through the transfer library (resumable, verified) with a progress bar
on stderr; an upload whose bytes the master already holds is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ffrtmp.cli import output
from ffrtmp.cli.context import client_from, wants_json
from ffrtmp.client import Client
from ffrtmp.client.blobref import Progress as Callback
from ffrtmp.client.blobref import file_digest
from ffrtmp.core.artifacts import check_name
from ffrtmp.core.blobref import blob_ref
from ffrtmp.v1 import common_pb2

LOCAL_PREFIXES = ("./", "../", "/", "~")


class Refused(Exception):
    """Nothing to upload or fetch, in words for the user."""


def local_input(value: str) -> Path | None:
    """The local file an --input names (`./movie.mp4`, `/data/a.mov`, `~/x.mkv`),
    else None: a plain relative path still means the worker's input root."""
    if not value.startswith(LOCAL_PREFIXES):
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise Refused(f"--input {value}: no such local file to upload")
    return path


@contextmanager
def _bar(title: str, total: int, quiet: bool) -> Iterator[Callback]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, disable=quiet or not console.is_terminal) as p:
        task = p.add_task(title, total=total)

        def moved(done: int, whole: int) -> None:
            p.update(task, completed=done, total=whole or None)

        yield moved


# Uploads and fetches ride out a master restart (or a failover) of up to this long:
# UNAVAILABLE is retried with backoff, and the transfer resumes where it was cut.
PATIENCE_S = 120.0


async def upload_input(c: Client, path: Path, quiet: bool) -> str:
    """Store the file as the caller's blob; the spec input naming it."""
    with _bar(f"upload {path.name}", 0, quiet) as moved:
        ref = await c.transfer(patience_s=PATIENCE_S).upload(path, progress=moved)
    return blob_ref(ref.sha256)


def _have(dest: Path, sha256: str, size: int) -> bool:
    """Whether `dest` already holds these bytes (an earlier fetch); makes its folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.is_file() and dest.stat().st_size == size and file_digest(dest)[0] == sha256


def _target(root: Path, name: str) -> Path:
    check_name(name)  # the master checked it too: never outside `root`
    return root.joinpath(*PurePosixPath(name).parts)


async def fetch(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    async with client_from(args) as c:
        job = await c.get(args.job_id)
        if job.state != common_pb2.JOB_STATE_SUCCEEDED:
            state = common_pb2.JobState.Name(job.state).removeprefix("JOB_STATE_")
            print(f"error: job {job.id} is {state}; only a SUCCEEDED job has artifacts",
                  file=sys.stderr)
            return 1
        arts = list(job.output_info.artifacts)
        if not arts:
            print(f"error: job {job.id} stored no artifacts (its output stays on "
                  f"the worker: {job.output or 'none'})", file=sys.stderr)
            return 1
        if any(a.resource.startswith("s3://") for a in arts):
            print(f"error: job {job.id} wrote to a bucket of yours; fetch "
                  f"{job.output} with your S3 tools", file=sys.stderr)
            return 1
        total = sum(a.size_bytes for a in arts)
        quiet = wants_json(args) or args.quiet
        fetched: list[str] = []
        with _bar(f"fetch {job.id}", total, quiet) as moved:
            done = 0
            for a in arts:
                try:
                    dest = _target(root, a.name)
                except ValueError as exc:
                    print(f"error: job {job.id}: {exc}", file=sys.stderr)
                    return 1
                if not await asyncio.to_thread(_have, dest, a.sha256, a.size_bytes):
                    # A fetch cut off resumes: whole files are skipped above, a
                    # partial one continues from its .part file.
                    def step(n: int, _whole: int, before: int = done) -> None:
                        moved(before + n, total)

                    t = c.transfer(patience_s=PATIENCE_S)
                    await t.download(a.resource, dest, progress=step)
                done += a.size_bytes
                moved(done, total)
                fetched.append(str(dest))
    if wants_json(args):
        output.print_json(fetched)
    else:
        print("\n".join(fetched))
    return 0


def add_fetch(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("fetch", help="download a SUCCEEDED job's artifacts (resumable, verified)")
    p.add_argument("job_id")
    p.add_argument("-o", "--dir", default=".", help="directory to write them under")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=fetch)
