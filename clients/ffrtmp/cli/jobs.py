"""`ffrtmp jobs ...`: submit, inspect, cancel and watch jobs."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from ffrtmp.cli import output, submit, transfers
from ffrtmp.cli.context import client_from, wants_json
from ffrtmp.cli.watch import follow
from ffrtmp.v1 import common_pb2

STATE_NAMES = [output.state_name(v) for v in common_pb2.JobState.values() if v]


async def _show_jobs(args: argparse.Namespace, jobs: list[common_pb2.Job], title: str) -> None:
    if wants_json(args):
        output.print_json([output.job_dict(j) for j in jobs])
    else:
        output.jobs_table(jobs, title)


def _show_job(args: argparse.Namespace, job: common_pb2.Job) -> None:
    if wants_json(args):
        output.print_json(output.job_dict(job, events=True))
    else:
        output.job_detail(job)


async def get(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        _show_job(args, await c.get(args.job_id))
    return 0


async def list_jobs(args: argparse.Namespace) -> int:
    states = [common_pb2.JobState.Value(f"JOB_STATE_{s}") for s in args.state]
    async with client_from(args) as c:
        jobs = await c.list_all(
            limit=args.limit, states=states, queue=args.queue or "", node_id=args.node or ""
        )
    await _show_jobs(args, jobs, "jobs")
    return 0


async def status(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        if args.job_id:
            _show_job(args, await c.get(args.job_id))
            return 0
        jobs = await c.list_all(limit=args.limit)
        nodes = await c.list_nodes()
    if wants_json(args):
        output.print_json([output.job_dict(j) for j in jobs])
        return 0
    counts = Counter(output.state_name(j.state) for j in jobs)
    online = sum(1 for n in nodes if output.node_state_name(n.state) in ("ONLINE", "DRAINING"))
    summary = ", ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items())) or "no jobs"
    print(f"master {args.master}: {online} of {len(nodes)} workers online; jobs: {summary}")
    if jobs:
        output.jobs_table(jobs)
    return 0


async def cancel(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        job = await c.cancel(args.job_id, args.reason or "")
    _show_job(args, job)
    return 0


async def pause(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        job = await c.pause(args.job_id, args.pause)
    _show_job(args, job)
    return 0


async def retry(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        job = await c.retry(args.job_id, args.reason or "")
    _show_job(args, job)
    return 0


async def watch(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        return await follow(c, args.job_id, as_json=wants_json(args))


async def logs(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        resp = await c.logs(args.job_id)
    if wants_json(args):
        output.print_json(
            {
                "id": resp.job_id,
                "attempt": resp.attempt,
                "node_id": resp.node_id,
                "log_tail": resp.log_tail,
            }
        )
    elif resp.log_tail:
        sys.stdout.write(resp.log_tail if resp.log_tail.endswith("\n") else resp.log_tail + "\n")
    else:
        print(
            f"(no log yet for job {resp.job_id}: it has not finished an attempt)", file=sys.stderr
        )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs = subparsers.add_parser("jobs", help="submit and manage transcoding jobs")
    sub = jobs.add_subparsers(dest="jobs_command", metavar="COMMAND", required=True)

    submit.add_arguments(sub.add_parser("submit", help="submit a job"))

    transfers.add_fetch(sub)

    p = sub.add_parser("get", help="show one job with its history")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(func=get)

    p = sub.add_parser("list", help="list jobs, newest first")
    p.add_argument(
        "--state",
        action="append",
        default=[],
        choices=STATE_NAMES,
        help="only jobs in this state (repeatable)",
    )
    p.add_argument("--queue")
    p.add_argument("--node", help="only jobs on this node")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=list_jobs)

    p = sub.add_parser("status", help="the cluster at a glance, or one job's status")
    p.add_argument("job_id", metavar="ID", nargs="?")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=status)

    p = sub.add_parser("cancel", help="cancel a job; a running ffmpeg is stopped")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--reason")
    p.set_defaults(func=cancel)

    p = sub.add_parser("pause", help="stop a running job's ffmpeg, keeping its place")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(func=pause, pause=True)

    p = sub.add_parser("resume", help="let a paused job go on")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(func=pause, pause=False)

    p = sub.add_parser("logs", help="the ffmpeg log tail of the job's last finished attempt")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(func=logs)

    p = sub.add_parser("retry", help="re-queue a FAILED or CANCELED job")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--reason")
    p.set_defaults(func=retry)

    p = sub.add_parser("watch", help="follow a job until it ends; exit status is its outcome")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(func=watch)
