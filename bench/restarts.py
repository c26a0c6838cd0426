"""Restart a master several times over one seeded database: (e) without
re-seeding a million jobs each time, so runs of two versions of the code can
alternate within minutes on the same data.

    python -m bench.restarts seed DB [JOBS]      # 1,000,000 by default
    python -m bench.restarts run DB [RUNS] [--profile DIR]

Each run prints spawn → ready, the master's CPU seconds (user + system) at
ready, and its RSS then and at its peak, with the load average. A database
seeded by an older version is migrated by the first run (reported like the
others: that run includes the migration)."""

from __future__ import annotations

import argparse
import compileall
import tempfile
import time
from pathlib import Path

from tests.helpers.certs import make_certs
from tests.helpers.procs import cpu_seconds, peak_rss_mib

import ffrtmp
from bench.cluster import Profiler, Spy, start_master
from bench.seed import seed


def run(db: Path, runs: int, profile: Path | None) -> None:
    root = Path(tempfile.mkdtemp(prefix="ffrtmp-restarts-"))
    certs = make_certs(root / "certs")
    for package in ffrtmp.__path__:  # as (e): an installed master has its bytecode
        compileall.compile_dir(package, quiet=1)
    profiler = Profiler(profile, ("--gil",)) if profile else None
    for i in range(runs):
        spies: list[Spy] = []

        def attach(pid: int, i: int = i, spies: list[Spy] = spies) -> None:
            if profiler is not None:
                spies.append(profiler.start(pid, f"restart{i}"))

        master = start_master(root, certs, "restart", db=db, timeout=900, on_spawn=attach)
        try:
            cpu, rss = cpu_seconds(master.pid), master.rss_mib()
            time.sleep(1.0)
            rss, peak = max(rss, master.rss_mib()), peak_rss_mib(master.pid)
        finally:
            if profiler is not None and spies:
                profiler.finish(spies[0])
            master.stop()
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        print(f"ready {master.ready_s:.2f} s  cpu {cpu:.2f} s  rss {rss:.0f} MiB"
              f" (peak {peak:.0f})  load {load}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["seed", "run"])
    p.add_argument("db", type=Path)
    p.add_argument("count", type=int, nargs="?", help="jobs to seed, or runs (default 3)")
    p.add_argument("--profile", type=Path, default=None, help="py-spy records here")
    args = p.parse_args()
    if args.action == "seed":
        print(f"seeded in {seed(args.db, args.count or 1_000_000):.0f} s")
    else:
        run(args.db, args.count or 3, args.profile)


if __name__ == "__main__":
    main()
