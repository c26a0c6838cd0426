"""A group job (a split transcode) on the terminal: its children as a tree
with the aggregate progress, and one bar per running child while watching."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from ffrtmp.cli.media_output import eta_text
from ffrtmp.v1 import common_pb2

ACTIVE = frozenset(
    {common_pb2.JOB_STATE_ASSIGNED, common_pb2.JOB_STATE_RUNNING, common_pb2.JOB_STATE_PAUSED}
)


def _state(value: int) -> str:
    return common_pb2.JobState.Name(value).removeprefix("JOB_STATE_")  # type: ignore[arg-type]


def graph_fields(j: common_pb2.Job) -> dict[str, Any]:
    """The job's place in a graph, for JSON output (empty for a plain job)."""
    d: dict[str, Any] = {}
    if j.parent_id:
        d["parent_id"] = j.parent_id
    if j.depends_on:
        d["depends_on"] = list(j.depends_on)
    if j.group:
        d["group"] = True
        d["children"] = [
            {
                "id": c.id,
                "state": _state(c.state),
                "node_id": c.node_id,
                "attempt": c.attempt,
                "progress": round(c.progress.percent, 1),
                "depends_on": list(c.depends_on),
                "output": c.spec.output,
                "seek_s": c.spec.seek_s,  # a segment's stretch of the input
                "duration_s": c.spec.duration_s,
            }
            for c in j.children
        ]
    return d


def summary(j: common_pb2.Job) -> str:
    done = sum(c.state == common_pb2.JOB_STATE_SUCCEEDED for c in j.children)
    running = sum(c.state in ACTIVE for c in j.children)
    parts = [f"{done}/{len(j.children)} done", f"{running} running",
             f"{j.progress.percent:.1f}%"]
    if j.progress.HasField("eta_s") and done != len(j.children):
        parts.append(f"ETA {eta_text(j.progress.eta_s)}")
    return " · ".join(parts)


def print_tree(j: common_pb2.Job, con: Console) -> None:
    t = Table(title=f"children of {j.id}: {summary(j)}")
    for col in ("ID", "STATE", "NODE", "ATTEMPT", "PROGRESS", "WAITS FOR", "OUTPUT"):
        t.add_column(col)
    for c in j.children:
        waits = f"{len(c.depends_on)} jobs" if c.depends_on else "-"
        t.add_row(c.id, _state(c.state), c.node_id or "-", str(c.attempt),
                  f"{c.progress.percent:.0f}%", waits, c.spec.output or "-")
    con.print(t)


class ChildBars:
    """One bar per running child under the group's own bar; a child's bar
    stays at its last value once it ends."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, TaskID] = {}

    def update(self, j: common_pb2.Job) -> None:
        for c in j.children:
            task = self.tasks.get(c.id)
            if task is None and c.state in ACTIVE:
                task = self.tasks[c.id] = self.bar.add_task(f"  {c.id}", total=100, status="")
            if task is None:
                continue
            done = c.state == common_pb2.JOB_STATE_SUCCEEDED
            status = f"{_state(c.state)} on {c.node_id}" if c.node_id else _state(c.state)
            self.bar.update(task, completed=100 if done else c.progress.percent, status=status)
