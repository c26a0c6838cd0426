"""`ffrtmp cluster status`: the masters sharing the database, which one leads,
its term and since when. Any master answers, a standby included."""

from __future__ import annotations

import argparse
import datetime as dt

from google.protobuf import json_format

from ffrtmp.cli import output
from ffrtmp.cli.context import client_from, wants_json


def _when(unix_ms: int) -> str:
    if not unix_ms:
        return "-"
    return dt.datetime.fromtimestamp(unix_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def status(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        st = await c.cluster_status()
    if wants_json(args):
        output.print_json(json_format.MessageToDict(st, always_print_fields_with_no_presence=True))
        return 0 if st.leader_id else 1
    if st.leader_id:
        print(f"leader: {st.leader_address} ({st.leader_id}), term {st.term},"
              f" since {_when(st.leader_since_unix_ms)}")
    else:
        print("leader: none (no master holds the lease)")
    print(f"mode: {st.mode}; answered by {st.answered_by}")
    for m in st.masters:
        role = "leader" if m.leader else "standby"
        print(f"  {m.address:<28} {role:<8} {m.id}  seen {m.seen_ago_ms / 1000:.1f}s ago")
    return 0 if st.leader_id else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("cluster", help="the masters and which one leads")
    sub = p.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    s = sub.add_parser("status", help="masters, leader, term, since (exit 1 with no leader)")
    s.set_defaults(func=status)
