"""The chaos run's own parts, checked where they can be without a cluster: the
seeded plan, and the /proc watcher against real processes that look like encoders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.plan import KINDS, TARGETED, make_plan
from tests.chaos.watch import PROBE, Watcher


def test_plan_is_a_function_of_the_seed_and_covers_every_kind() -> None:
    a, b = make_plan(7, 75, 3.0), make_plan(7, 75, 3.0)
    assert [f.describe() for f in a] == [f.describe() for f in b]
    assert [f.describe() for f in a] != [f.describe() for f in make_plan(8, 75, 3.0)]
    assert {f.kind for f in make_plan(7, 300, 3.0)} == set(KINDS)
    for f in make_plan(7, 300, 3.0):
        assert (f.worker == "") == (f.kind not in TARGETED)
        if f.kind in ("worker_stall", "worker_freeze", "partition_hold"):
            assert 0.6 * 3.0 <= f.hold_s <= 2.7 * 3.0  # both sides of the timeout
        if f.kind == "master_kill":
            assert 1 <= f.kill_after < f.burst


@pytest.fixture
def fake_encoders(tmp_path: Path) -> Iterator[Any]:
    """Processes whose argv names a partial output of this run, as ffmpeg's does."""
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(worker: str, job: str, attempt: int) -> subprocess.Popen[bytes]:
        name = f".c1-0001.{job}-{attempt}.partial.mp4" if attempt else "c1-0001.mp4"
        out = tmp_path / f"out-{worker}" / "chaos" / name
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(out)])
        procs.append(p)
        return p

    yield spawn
    for p in procs:
        p.kill()
        p.wait()


def _scan_until(w: Watcher, pred: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not pred() and time.monotonic() < deadline:
        w.scan(time.monotonic())
        time.sleep(0.05)
    assert pred()


def test_watcher_sees_one_job_on_two_workers_and_not_one_run(
    tmp_path: Path, fake_encoders: Any
) -> None:
    events: list[dict[str, Any]] = []
    w = Watcher(str(tmp_path), events.append)
    a = fake_encoders("w1", "abc", 1)
    fake_encoders("w2", "other", 1)  # another job: no overlap
    fake_encoders("w3", "", 0)  # a probe of a finished output: present, not a run
    _scan_until(w, lambda: len(w.encoders) == 3)
    assert {e.attempt for e in w.encoders.values()} == {1, PROBE}
    assert not [e for e in events if e["e"] == "overlap"]
    b = fake_encoders("w2", "abc", 2)
    _scan_until(w, lambda: any(e["e"] == "overlap" for e in events))
    # A stopped encoder (a frozen host) is not running: the overlap ends...
    os.kill(a.pid, signal.SIGSTOP)
    _scan_until(w, lambda: len(w.episodes) == 1)
    os.kill(a.pid, signal.SIGCONT)
    # ...and begins again when it runs on.
    _scan_until(w, lambda: len(w._open) == 1)
    b.kill()
    b.wait()
    _scan_until(w, lambda: len(w.episodes) == 2)
    assert any(e["e"] == "gone" and e["pid"] == b.pid for e in events)
    summary = w.summary()
    assert [ep["job"] for ep in summary["episodes"]] == ["abc", "abc"]
    assert summary["episodes"][0]["keys"] == [("w1", 1), ("w2", 2)]
    assert summary["samples"] > 0


def test_watcher_ignores_processes_of_other_runs(tmp_path: Path, fake_encoders: Any) -> None:
    w = Watcher(str(tmp_path / "elsewhere"), lambda e: None)
    fake_encoders("w1", "abc", 1)
    for _ in range(5):
        w.scan(time.monotonic())
        time.sleep(0.05)
    assert not w.encoders
