"""Following a job to its end: a live progress bar on a terminal, plain lines
elsewhere (pipes, CI logs), the final job as JSON with --output json."""

from __future__ import annotations

import asyncio
import sys

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ffrtmp.cli import output
from ffrtmp.cli.media_output import eta_text
from ffrtmp.cli.tree import ChildBars, summary
from ffrtmp.client import Client
from ffrtmp.v1 import common_pb2


def exit_code_for(state: int) -> int:
    """0 when the job succeeded, 1 when it failed, 3 when it was canceled."""
    if state == common_pb2.JOB_STATE_SUCCEEDED:
        return 0
    return 3 if state == common_pb2.JOB_STATE_CANCELED else 1


def _status(job: common_pb2.Job) -> str:
    p = job.progress
    parts = [output.state_name(job.state), f"attempt {job.attempt}"]
    if job.node_id:
        parts.append(f"on {job.node_id}")
    if p.fps:
        parts.append(f"{p.fps:.0f} fps")
    if p.speed:
        parts.append(f"{p.speed:.2f}x")
    if p.bitrate and p.bitrate != "N/A":
        parts.append(p.bitrate)
    # Unset while unknown (no length to aim at, or no speed yet); stale once finished.
    if p.HasField("eta_s") and job.state == common_pb2.JOB_STATE_RUNNING:
        parts.append(f"ETA {eta_text(p.eta_s)}")
    if job.pending_reason:
        parts.append(job.pending_reason)
    elif job.state == common_pb2.JOB_STATE_RETRY_WAIT and job.error:
        parts.append(f"last error: {output.job_note(output.job_dict(job))}")
    return " · ".join(parts)


async def follow(c: Client, job_id: str, *, as_json: bool) -> int:
    try:
        last = await _follow(c, job_id, as_json=as_json)
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels us, then raises
        print(
            f"\nstopped watching; job {job_id} goes on. Follow it with `ffrtmp jobs watch "
            f"{job_id}`, stop it with `ffrtmp jobs cancel {job_id}`.",
            file=sys.stderr,
        )
        raise
    if last is None:
        return 1
    if as_json:
        output.print_json(output.job_dict(last))
    elif last.state == common_pb2.JOB_STATE_SUCCEEDED:
        print(f"{last.id} succeeded: {last.output or last.spec.output}")
    elif last.error:
        print(f"error: {last.error}", file=sys.stderr)
    return exit_code_for(last.state)


async def _follow(c: Client, job_id: str, *, as_json: bool) -> common_pb2.Job | None:
    last: common_pb2.Job | None = None
    if as_json:
        async for job in c.watch(job_id):
            last = job
    elif sys.stdout.isatty():
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
        )
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task(job_id, total=100, status="")
            children = ChildBars(bar)
            async for job in c.watch(job_id):
                last = job
                status = summary(job) if job.group else _status(job)
                bar.update(task, completed=job.progress.percent, status=status)
                children.update(job)
    else:
        seen = ""
        async for job in c.watch(job_id):
            last = job
            status = summary(job) if job.group else _status(job)
            line = f"{job.id} {status} {job.progress.percent:.0f}%"
            if line != seen:
                print(line, flush=True)
                seen = line
    return last
