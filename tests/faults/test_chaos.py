"""A short seed of the chaos run (`make chaos` runs a long one): real master and
workers, real jobs, every kind of fault, an independent /proc watcher of ffmpeg.
Nothing acknowledged may be lost, no job may run on two workers or attempts at once
or sit leased with no encoder anywhere, no request may make two jobs, no job may
fail for faults of the infrastructure, and every stopped process must exit in time.

FFRTMP_CHAOS_SEED and FFRTMP_CHAOS_S pick another seed or length."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chaos.plan import KINDS
from tests.helpers.procs import child_env

SEED = os.environ.get("FFRTMP_CHAOS_SEED", "11")
SECONDS = os.environ.get("FFRTMP_CHAOS_S", "75")


@pytest.mark.timeout(900)
def test_chaos_short_seed(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    argv = [sys.executable, "-m", "tests.chaos.run", "--seed", SEED, "--duration", SECONDS,
            "--jobs", "70", "--settle", "90", "--root", str(tmp_path / "run"), "--json", str(out)]
    run = subprocess.run(argv, capture_output=True, text=True, env=child_env(), timeout=880,
                         check=False)  # fmt: skip
    print(run.stdout[-6000:], run.stderr[-3000:])
    result = json.loads(out.read_text())
    figures = result["figures"]
    assert run.returncode != 2, "the harness itself failed"
    assert figures["harness_errors"] == 0
    assert all(figures[f"faults_{kind}"] >= 1 for kind in KINDS)
    assert figures["watcher_samples"] > 0 and figures["tracker_polls"] > 0
    # The detector is not blind: it attributed encoders to most of the jobs that ran.
    assert figures["watcher_jobs_seen"] >= figures["succeeded"] // 2, figures
    assert figures["outputs_missing"] == 0, result["details"]["outputs_missing"]
    # Each promise on its own line, so a failure names the one that broke.
    assert figures["lost"] == 0, result["details"]["lost"]
    assert figures["overlaps"] == 0, result["details"]["overlaps"]
    # A frozen host thaws with its ffmpeg: the launcher kills it on its first tick, so such
    # an overlap is one or two readings, never a run (docs/FAULT_TOLERANCE.md).
    assert all(e["samples"] <= 3 for e in result["details"]["thaw_overlaps"]), result["details"]
    assert figures["stranded"] == 0, result["details"]["stranded"]
    assert figures["duplicates"] == 0 and figures["completed_twice"] == 0
    assert figures["failed"] == 0, result["details"]["failed"]
    assert figures["stop_overruns"] == 0, result["details"]["stops"]
    assert figures["leftover_encoders"] == 0
    assert figures["start_failures"] == 0, result["details"]["start_failures"]
    assert run.returncode == 0, result["failures"]
