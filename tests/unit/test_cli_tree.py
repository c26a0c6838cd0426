"""How a group job reads in the CLI: its children as JSON and as a tree."""

from __future__ import annotations

import io

from rich.console import Console

from ffrtmp.cli.output import job_dict
from ffrtmp.cli.tree import print_tree, summary
from ffrtmp.v1 import common_pb2


def _group() -> common_pb2.Job:
    kids = [
        common_pb2.Job(id="s1", state=common_pb2.JOB_STATE_SUCCEEDED, node_id="a", attempt=1,
                       progress=common_pb2.Progress(percent=100), parent_id="g"),
        common_pb2.Job(id="s2", state=common_pb2.JOB_STATE_RUNNING, node_id="b", attempt=2,
                       progress=common_pb2.Progress(percent=40), parent_id="g"),
        common_pb2.Job(id="j", state=common_pb2.JOB_STATE_BLOCKED, parent_id="g",
                       depends_on=["s1", "s2"]),
    ]
    return common_pb2.Job(id="g", state=common_pb2.JOB_STATE_BLOCKED, group=True,
                          depends_on=["s1", "s2", "j"], children=kids,
                          progress=common_pb2.Progress(percent=46.7, eta_s=80))


def test_json_carries_the_tree() -> None:
    d = job_dict(_group())
    assert d["group"] is True and d["state"] == "BLOCKED"
    assert [(c["id"], c["state"], c["progress"]) for c in d["children"]] == [
        ("s1", "SUCCEEDED", 100.0), ("s2", "RUNNING", 40.0), ("j", "BLOCKED", 0.0)]
    assert d["children"][2]["depends_on"] == ["s1", "s2"]
    plain = job_dict(_group().children[0])
    assert plain["parent_id"] == "g" and "children" not in plain


def test_the_tree_shows_every_child_and_the_aggregate() -> None:
    assert summary(_group()) == "1/3 done · 1 running · 46.7% · ETA 1m20s"
    buf = io.StringIO()
    print_tree(_group(), Console(file=buf, width=150))
    text = buf.getvalue()
    assert "1/3 done" in text and "2 jobs" in text
    for needle in ("s1", "SUCCEEDED", "s2", "RUNNING", "40%", "BLOCKED"):
        assert needle in text


def test_watch_adds_a_bar_per_running_child_and_keeps_it() -> None:
    from rich.progress import Progress

    from ffrtmp.cli.tree import ChildBars

    bar = Progress(console=Console(file=io.StringIO()))
    bars = ChildBars(bar)
    g = _group()
    bars.update(g)
    assert list(bars.tasks) == ["s2"]  # only the running child; s1 was done before
    task = bar.tasks[0]
    assert (task.completed, task.fields["status"]) == (40, "RUNNING on b")
    g.children[1].state = common_pb2.JOB_STATE_SUCCEEDED
    g.children[2].state = common_pb2.JOB_STATE_RUNNING
    g.children[2].node_id = "a"
    bars.update(g)
    assert list(bars.tasks) == ["s2", "j"]
    assert bar.tasks[0].completed == 100 and bar.tasks[1].fields["status"] == "RUNNING on a"
