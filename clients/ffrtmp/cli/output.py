"""How the CLI shows things: plain objects for --output json, rich tables otherwise."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from ffrtmp.cli.media_output import (
    eta_text,
    media_rows,
    message_dict,
    output_info_dict,
    output_info_lines,
)
from ffrtmp.cli.tree import graph_fields, print_tree
from ffrtmp.core.ffmpeg_build import short_version
from ffrtmp.v1 import common_pb2, jobs_pb2, nodes_pb2


def state_name(value: int) -> str:
    return common_pb2.JobState.Name(value).removeprefix("JOB_STATE_")  # type: ignore[arg-type]


def node_state_name(value: int) -> str:
    return nodes_pb2.NodeState.Name(value).removeprefix("NODE_STATE_")  # type: ignore[arg-type]


def _iso(ms: int) -> str | None:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat() if ms else None


def job_dict(j: common_pb2.Job, *, events: bool = False) -> dict[str, Any]:
    """The job with its spec's fields at the top level, every one of them."""
    d: dict[str, Any] = {
        "id": j.id,
        "state": state_name(j.state),
        "node_id": j.node_id,
        "attempt": j.attempt,
        "lost_attempts": j.lost_attempts,
        **message_dict(j.spec),
        "output": j.output or j.spec.output,
        "progress": round(j.progress.percent, 1),
        "fps_now": round(j.progress.fps, 1),
        "speed": round(j.progress.speed, 2),
        "eta_s": round(j.progress.eta_s, 1) if j.progress.HasField("eta_s") else None,
        "bitrate_now": j.progress.bitrate,
        "created_at": _iso(j.created_unix_ms),
        "updated_at": _iso(j.updated_unix_ms),
        "exit_code": j.exit_code,
        "error": j.error,
        "failure_reason": j.failure_reason,
        "output_bytes": j.output_bytes,
        "request_id": j.request_id,
        "pending_reason": j.pending_reason,
        "output_info": output_info_dict(j),
        **graph_fields(j),
    }
    if events:
        d["events"] = [
            {
                "at": _iso(e.at_unix_ms),
                "from": state_name(e.from_state) if e.from_state else None,
                "to": state_name(e.to_state),
                "reason": e.reason,
                "node_id": e.node_id,
                "attempt": e.attempt,
            }
            for e in j.events
        ]
        d["log_tail"] = j.log_tail
    return d


def node_dict(n: nodes_pb2.Node) -> dict[str, Any]:
    c = n.capabilities
    return {
        "id": n.id,
        "state": node_state_name(n.state),
        "slots": c.slots,
        "running_job_ids": list(n.running_job_ids),
        "cpu_threads": c.cpu_threads,
        "ram_bytes": c.ram_bytes,
        "encoders": list(c.encoders),
        "hwaccels": list(c.hwaccels),
        "labels": dict(c.labels),
        "ffmpeg_version": c.ffmpeg_version,
        "gpus": c.gpus,
        "drained": n.drained,
        "address": n.address,
        "connected_at": _iso(n.connected_unix_ms),
        "last_seen_at": _iso(n.last_seen_unix_ms),
    }


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _console() -> Console:
    return Console(soft_wrap=False, width=max(100, Console().width))


_FFMPEG_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
NOTE_CHARS = 60
LOG_LINES = 12


def job_note(d: dict[str, Any]) -> str:
    """One short line on why a job is where it is: its error (the cause is at the end
    of ffmpeg's lines, so a long one keeps its end) or why it still waits."""
    if d["state"] == "SUCCEEDED":
        return ""
    text = _FFMPEG_PREFIX.sub("", d["error"]) if d["error"] else d["pending_reason"]
    return text if len(text) <= NOTE_CHARS else "…" + text[-(NOTE_CHARS - 1):]


def jobs_table(jobs: Iterable[common_pb2.Job], title: str | None = None) -> None:
    t = Table(title=title)
    for col in ("ID", "STATE", "QUEUE", "PRIORITY", "SCENARIO", "NODE", "ATTEMPT", "PROGRESS"):
        t.add_column(col)
    t.add_column("NOTE", no_wrap=True)
    for j in jobs:
        d = job_dict(j)
        t.add_row(
            d["id"],
            d["state"],
            d["queue"],
            d["priority"],
            d["scenario"],
            d["node_id"] or "-",
            str(d["attempt"]),
            f"{d['progress']:.0f}%",
            job_note(d),
        )
    _console().print(t)


def job_detail(j: common_pb2.Job) -> None:
    d = job_dict(j, events=True)
    t = Table(show_header=False, box=None)
    t.add_column(style="bold")
    t.add_column()
    for key in (
        "id",
        "state",
        "queue",
        "priority",
        "scenario",
        "node_id",
        "attempt",
        "lost_attempts",
        "live",
        "input",
        "output",
        "codec",
        "preset",
        "bitrate",
        "width",
        "height",
        "fps",
        "duration_s",
        "progress",
        "created_at",
        "updated_at",
        "exit_code",
        "error",
        "failure_reason",
        "pending_reason",
        "output_bytes",
    ):
        if key == "lost_attempts" and not d[key]:
            continue  # shown only when the infrastructure cost the job an attempt
        if d[key] not in ("", None) or key in ("id", "state"):
            t.add_row(key, str(d[key]))
        if key == "progress" and d["eta_s"] is not None and d["state"] == "RUNNING":
            t.add_row("eta", eta_text(d["eta_s"]))
        if key == "duration_s":
            for name, value in media_rows(d):
                t.add_row(name, value)
    if d["output_info"] is not None:
        # The probe's view: what is really in the output, one stream a line.
        for i, line in enumerate(output_info_lines(d["output_info"])):
            t.add_row("output info" if i == 0 else "", line)
    con = _console()
    con.print(t)
    if j.group:
        print_tree(j, con)
    if d["events"]:
        ev = Table(title="history")
        for col in ("AT", "FROM", "TO", "NODE", "ATTEMPT", "REASON"):
            ev.add_column(col)
        for e in d["events"]:
            ev.add_row(
                e["at"],
                e["from"] or "-",
                e["to"],
                e["node_id"] or "-",
                str(e["attempt"]),
                e["reason"],
            )
        con.print(ev)
    tail = d["log_tail"].splitlines()[-LOG_LINES:]
    if tail:
        # Plain print: ffmpeg's brackets are not rich markup.
        print(f"\nlog tail (last {len(tail)} lines; `ffrtmp jobs logs {d['id']}` has more):")
        print("\n".join(tail))


def nodes_table(nodes: Iterable[nodes_pb2.Node]) -> None:
    t = Table()
    for col in ("ID", "STATE", "SLOTS", "RUNNING", "CPU", "RAM", "FFMPEG", "LAST SEEN"):
        t.add_column(col, no_wrap=True)
    for n in nodes:
        d = node_dict(n)
        t.add_row(
            d["id"],
            d["state"],
            str(d["slots"]),
            str(len(d["running_job_ids"])),
            str(d["cpu_threads"]),
            f"{d['ram_bytes'] / 2**30:.1f} GiB",
            short_version(d["ffmpeg_version"]) or "-",
            d["last_seen_at"] or "-",
        )
    _console().print(t)


def stats_dict(s: jobs_pb2.GetQueueStatsResponse) -> dict[str, Any]:
    return {
        "queued": s.queued,
        "retry_waiting": s.retry_waiting,
        "running": s.running,
        "depths": [{"queue": d.queue, "priority": d.priority, "depth": d.depth} for d in s.depths],
        "oldest_wait_s": {w.queue: round(w.oldest_wait_s, 3) for w in s.waits},
        "nodes": [
            {"id": n.node_id, "running": n.running, "slots": n.slots, "accepting": n.accepting}
            for n in s.nodes
        ],
        "blocked": [
            {"needs": list(b.needs), "count": b.count, "reason": b.reason} for b in s.blocked
        ],
    }


def stats_tables(s: jobs_pb2.GetQueueStatsResponse) -> None:
    con = _console()
    con.print(f"queued {s.queued}, waiting to retry {s.retry_waiting}, running {s.running}")
    waits = {w.queue: w.oldest_wait_s for w in s.waits}
    t = Table(title="queues")
    for col in ("QUEUE", "PRIORITY", "DEPTH", "OLDEST WAIT"):
        t.add_column(col)
    for d in s.depths:
        t.add_row(d.queue, d.priority, str(d.depth), f"{waits.get(d.queue, 0):.1f}s")
    con.print(t)
    n = Table(title="nodes")
    for col in ("NODE", "RUNNING", "SLOTS", "ACCEPTING"):
        n.add_column(col)
    for node in s.nodes:
        n.add_row(
            node.node_id, str(node.running), str(node.slots), "yes" if node.accepting else "no"
        )
    con.print(n)
    for b in s.blocked:
        con.print(f"[yellow]{b.count} job(s) cannot run: {b.reason}[/yellow]")
