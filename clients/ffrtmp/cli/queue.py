"""`ffrtmp queue stats`: depths, waits, running jobs and per-node load."""

from __future__ import annotations

import argparse

from ffrtmp.cli import output
from ffrtmp.cli.context import client_from, wants_json


async def stats(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        s = await c.queue_stats()
    if wants_json(args):
        output.print_json(output.stats_dict(s))
    else:
        output.stats_tables(s)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    queue = subparsers.add_parser("queue", help="the scheduler's queues")
    sub = queue.add_subparsers(dest="queue_command", metavar="COMMAND", required=True)
    p = sub.add_parser("stats", help="depth by queue and priority, waits, node load")
    p.set_defaults(func=stats)
