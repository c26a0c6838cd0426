"""`python -m bench.commit_probe [--n N] [--dir DIR]`: what one durable commit
costs on this disk, alone: a one-row SQLite transaction in WAL mode with
`synchronous=FULL` (the master's setting), N times, 10 ms apart. Figure (d)'s
submit → Assign path holds one such commit; its p99 here is the floor under
(d)'s p99, whatever the master's code does."""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.load import percentile


def probe(directory: Path | None, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=directory) as d:
        conn = sqlite3.connect(Path(d) / "probe.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        took = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t(v) VALUES (?)", ("x" * 800,))  # a job row's size
            conn.execute("COMMIT")
            took.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.01)
        conn.close()
    return {f"commit_ms_p{q}": percentile(took, q) for q in (50, 90, 99)}


def main() -> None:
    p = argparse.ArgumentParser(prog="bench.commit_probe")
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--dir", type=Path, default=None, help="where the database goes (a temp dir)")
    a = p.parse_args()
    print("  ".join(f"{k}={v:.2f}" for k, v in probe(a.dir, a.n).items()), flush=True)


if __name__ == "__main__":
    main()
