"""`python -m bench.streammem N [N ...]`: the memory one worker stream costs,
for a bare grpc.aio mTLS server and for the master.

Each server starts alone, settles, then N simulated workers connect (their own
TLS connection each, heartbeating every 5 s, in separate processes); the RSS it
grew by, over N, is its KiB a stream. Several sizes give the slope between them,
which leaves the start-up's one-off growth out. `--trace` runs the master once
more under tracemalloc at the largest size and prints the Python memory a stream
holds and the lines that hold most of it (tracemalloc's own overhead makes that
run's RSS meaningless). `--only bare|master` measures one server.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers.certs import Certs, make_certs
from tests.helpers.procs import Proc, rss_mib, stop_all

from bench.cluster import READY, allocator, ensure_workers, python_argv
from bench.fleet import spawn_sims

SETTLE_S = 3.0  # after start: start-up garbage gone
# After the last Welcome: every stream past two heartbeats (every 5 s) and an
# answer, whose buffers a stream then keeps; 3 s (the figures of PERFORMANCE.md's
# steps) saw some streams before their first.
STEADY_S = 12.0


def _traced(server: Proc) -> int:
    seen = len(server.lines)
    server.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in server.lines[seen:]:
            if m := re.match(r"traced bytes=(\d+)", line):
                return int(m.group(1))
        time.sleep(0.2)
    raise RuntimeError("the master did not report its traced memory")


def measure(kind: str, n: int, root: Path, certs: Path, trace: bool = False) -> dict[str, float]:
    """RSS (MiB) of a fresh server before and after `n` streams connect."""
    if kind == "bare":
        argv = ["bare", str(certs)]
    else:
        argv = ["master", "--listen", "127.0.0.1:0", "--metrics-port", "0"]
        argv += ["--metrics-host", "127.0.0.1", "--db", str(root / f"mem-{n}.db")]
        argv += ["--ca", str(certs / "ca.crt"), "--heartbeat-interval", "5s"]
        argv += ["--cert", str(certs / "master.crt"), "--key", str(certs / "master.key")]
    tag = f"{kind}-{n}{'-trace' if trace else ''}"
    server = Proc(python_argv("bench.streammem_serve", argv), root / f"{tag}.log")
    sims: list[Proc] = []
    try:
        port = int(server.wait_for(READY, 120).group(1))
        time.sleep(SETTLE_S)
        out = {"rss0": rss_mib(server.pid)}
        if trace:
            out["py0"] = _traced(server) / 2**20
        t0 = time.perf_counter()
        sims = spawn_sims(certs, f"127.0.0.1:{port}", n, root, tag, min_procs=1)
        for p in sims:
            p.wait_for(r"simworkers connected", 900)
        out["connect_s"] = time.perf_counter() - t0
        time.sleep(STEADY_S)
        out["rss1"] = rss_mib(server.pid)
        if trace:
            out["py1"] = _traced(server) / 2**20
            print("\n".join(x for x in server.lines if x.startswith("traced-top")))
        return out
    finally:
        for p in sims:
            p.stop()
        server.stop(timeout=3)


def _kib(mib: float, n: int) -> float:
    return mib * 1024 / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.streammem")
    p.add_argument("sizes", type=int, nargs="+", help="streams to open, e.g. 1000 2000 4000")
    p.add_argument("--only", choices=("bare", "master"))
    p.add_argument("--trace", action="store_true", help="tracemalloc the master too")
    p.add_argument("--certs", type=Path, help="reuse (and add to) this certificate directory")
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ffrtmp-streammem-"))
    certs = args.certs or root / "certs"
    try:
        if not (certs / "ca.crt").exists():
            make_certs(certs)
        ensure_workers(Certs(certs), max(args.sizes))
        kinds = [args.only] if args.only else ["bare", "master"]
        print(f"allocator: {allocator()} (BENCH_MALLOC=jemalloc to preload jemalloc)")
        for kind in kinds:
            rows = [(n, measure(kind, n, root, certs)) for n in sorted(args.sizes)]
            for n, r in rows:
                grew = r["rss1"] - r["rss0"]
                print(
                    f"{kind:6} {n:6} streams: RSS {r['rss0']:.0f} -> {r['rss1']:.0f} MiB, "
                    f"{_kib(grew, n):.1f} KiB a stream (connected in {r['connect_s']:.0f} s)"
                )
            for (a, ra), (b, rb) in itertools.pairwise(rows):
                slope = (rb["rss1"] - ra["rss1"]) / (b - a)
                print(f"{kind:6} slope {a} -> {b}: {slope * 1024:.1f} KiB a stream")
        if args.trace:
            n = max(args.sizes)
            r = measure("master", n, root, certs, trace=True)
            py = _kib(r["py1"] - r["py0"], n)
            print(f"master Python objects (tracemalloc): {py:.1f} KiB a stream")
    finally:
        stop_all()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
