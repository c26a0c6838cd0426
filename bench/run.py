"""`python -m bench.run [--smoke]`: run every figure, print a table beside the
targets, and write the figures to bench/results.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.helpers.certs import make_certs
from tests.helpers.postgres import PgServer
from tests.helpers.procs import stop_all

from bench import blobs, fleet, rpc
from bench.cluster import DISTINCT_SPECS, Profiler
from bench.context import FULL, SMOKE, BenchRun
from ffrtmp import eventloop

RESULTS = Path(__file__).with_name("results.json")
# --postgres: the store figures on PostgreSQL, beside (not over) the SQLite ones.
RESULTS_PG = Path(__file__).with_name("results-postgres.json")
# The echo (a) runs too, so the PostgreSQL figures get their ratios to it.
PG_FIGURES = "abcd"

Figure = Callable[[BenchRun], Awaitable[dict[str, Any]]]
# Letter -> (what, figure), in the order they run.
FIGURES: dict[str, tuple[str, Figure]] = {
    "a": ("echo ceiling", rpc.echo),
    "b": ("SubmitJob throughput", rpc.submit),
    "c": ("job lifecycle", fleet.lifecycle),
    "d": ("submit→Assign latency", rpc.assign_latency),
    "e": ("restart over a backlog", fleet.restart),
    "f": ("idle worker fleet", fleet.idle_fleet),
    "g": ("blob transfer", blobs.transfer),
}
# The keys results.json always has (null when the figure did not run or failed).
KEYS = (
    "echo_rps",
    "echo_rtt_ms_p99",
    "submit_rps",
    "submit_ratio",
    "lifecycle_jobs_per_s",
    "lifecycle_ratio",
    "assign_latency_ms_p50",
    "assign_latency_ms_p99",
    "assign_p99_over_echo_ms",
    "restart_1m_s",
    "restart_1m_rss_mib",
    "fleet_workers",
    "fleet_cpu_pct",
    "fleet_rss_mib",
    "blob_upload_mb_s",
    "blob_download_mb_s",
    "blob_tls_up_mb_s",
    "blob_tls_down_mb_s",
    "blob_upload_ratio",
    "blob_download_ratio",
    "blob_cp_mb_s",
    "blob_upload_of_cp",
    "blob_download_of_cp",
)
# key -> (unit, target text, check); keys without a target are printed bare. The
# targets are ratios to the echo of the same run where the machine's noise would
# otherwise decide (issue targets: docs/PERFORMANCE.md).
TARGETS: dict[str, tuple[str, str, Callable[[float], bool] | None]] = {
    "echo_rps": ("calls/s", "ceiling", None),
    "echo_rtt_ms_p99": ("ms", "", None),
    "submit_rps": ("calls/s", "", None),
    "submit_ratio": ("of echo", "≥ 0.70", lambda v: v >= 0.7),
    "lifecycle_jobs_per_s": ("jobs/s", "", None),
    "lifecycle_ratio": ("of echo", "≥ 0.40", lambda v: v >= 0.4),
    "assign_latency_ms_p50": ("ms", "", None),
    "assign_latency_ms_p99": ("ms", "", None),
    "assign_p99_over_echo_ms": ("ms", "≤ 1", lambda v: v <= 1),
    "restart_1m_s": ("s", "≤ 5", lambda v: v <= 5),
    "restart_1m_rss_mib": ("MiB", "≤ 1024", lambda v: v <= 1024),
    # The fleet's targets are for 10,000 workers heartbeating every 5 s.
    "fleet_workers": ("workers", "10,000", None),
    "fleet_cpu_pct": ("% core", "≤ 100", lambda v: v <= 100),
    "fleet_rss_mib": ("MiB", "≤ 1024", lambda v: v <= 1024),
    "blob_upload_mb_s": ("MB/s", "", None),
    "blob_download_mb_s": ("MB/s", "", None),
    # (g) is judged per direction against curl over TLS moving the same bytes the
    # same way; cp (which may copy inside the kernel) is shown beside it.
    "blob_tls_up_mb_s": ("MB/s", "curl -T", None),
    "blob_tls_down_mb_s": ("MB/s", "curl GET", None),
    "blob_upload_ratio": ("of curl", "≥ 0.50", lambda v: v >= 0.5),
    "blob_download_ratio": ("of curl", "≥ 0.50", lambda v: v >= 0.5),
    "blob_cp_mb_s": ("MB/s", "cp+sync", None),
    "blob_upload_of_cp": ("of cp", "", None),
    "blob_download_of_cp": ("of cp", "", None),
}


def raise_nofile() -> None:
    """10,000 worker streams need more descriptors than a default soft limit of 1024;
    children inherit the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(results: dict[str, Any]) -> str:
    lines = [f"{'figure':<24}{'value':>12}  {'unit':<8}{'target':<10}ok", "-" * 58]
    for key in KEYS:
        unit, target, check = TARGETS[key]
        v = results.get(key)
        ok = "" if check is None or v is None else ("✓" if check(v) else "✗")
        lines.append(f"{key:<24}{_fmt(v):>12}  {unit:<8}{target:<10}{ok}")
    extras = sorted(k for k in results if k not in KEYS)
    if extras:
        lines += ["", "details:"]
        lines += [f"  {k:<30}{_fmt(results[k]):>12}" for k in extras]
    return "\n".join(lines)


async def run(letters: str, ctx: BenchRun) -> tuple[dict[str, Any], list[str]]:
    # The cores are shared: a high load average before the run flags noisy figures.
    results: dict[str, Any] = {
        "smoke": ctx.sizes.smoke,
        "callers": ctx.sizes.callers,
        "loadavg_1m_before": os.getloadavg()[0],
        # The master's and the echo's loop (--event-loop / FFRTMP_EVENT_LOOP).
        "event_loop": eventloop.name(os.environ.get("FFRTMP_EVENT_LOOP") or "auto"),
    }
    failed: list[str] = []
    for letter in letters:
        what, figure = FIGURES[letter]
        print(f"({letter}) {what} …", flush=True)
        t0 = time.perf_counter()
        try:
            got = await figure(ctx)
        except Exception:
            # One broken figure must not hide the others; the exit code says it.
            traceback.print_exc()
            failed.append(letter)
            stop_all()
            continue
        results.update(got)
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in got.items() if k in KEYS)
        print(f"    {shown}  ({time.perf_counter() - t0:.1f}s)", flush=True)
    return ratios(results), failed


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    """Each figure beside the echo of the same run: the machine's noise moves both."""
    echo, rtt = results.get("echo_rps"), results.get("echo_rtt_ms_p99")
    if echo:
        pairs = (("submit_rps", "submit_ratio"), ("lifecycle_jobs_per_s", "lifecycle_ratio"))
        for rate, ratio in pairs:
            if results.get(rate) is not None:
                results[ratio] = results[rate] / echo
    if rtt is not None and results.get("assign_latency_ms_p99") is not None:
        results["assign_p99_over_echo_ms"] = results["assign_latency_ms_p99"] - rtt
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="small sizes: proves every part works")
    p.add_argument("--only", default=None, help="figures to run, e.g. 'bc'")
    p.add_argument("--postgres", action="store_true",
                   help=f"masters store in a throwaway PostgreSQL (figures {PG_FIGURES};"
                   f" written to {RESULTS_PG.name})")
    p.add_argument("--profile", type=Path, help="record py-spy stacks of the master here")
    p.add_argument("--native", action="store_true", help="py-spy: include native frames")
    p.add_argument("--gil", action="store_true", help="py-spy: sample only the GIL holder")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--fleet", type=int, help="workers in (f) (default 10,000; smoke 50)")
    p.add_argument("--distinct-specs", action="store_true",
                   help="(b), (d): every job a different output, so no spec repeats")
    args = p.parse_args(argv)
    if args.distinct_specs:
        os.environ[DISTINCT_SPECS] = "1"
    if args.only is None:
        args.only = PG_FIGURES if args.postgres else "".join(FIGURES)
    if args.postgres and (off := set(args.only) - set(PG_FIGURES)):
        p.error(f"figures {''.join(sorted(off))} do not depend on the store; run them on SQLite")
    if unknown := set(args.only) - set(FIGURES):
        p.error(f"unknown figures: {''.join(sorted(unknown))}")
    raise_nofile()
    spy_flags = tuple(f for f, on in (("--native", args.native), ("--gil", args.gil)) if on)
    root = Path(tempfile.mkdtemp(prefix="ffrtmp-bench-"))
    sizes = SMOKE if args.smoke else FULL
    if args.fleet is not None:
        sizes = replace(sizes, fleet_workers=args.fleet)
    t0 = time.perf_counter()
    pg = PgServer() if args.postgres else None
    try:
        if pg is not None:
            pg.start()
        profiler = Profiler(args.profile, spy_flags)
        ctx = BenchRun(root, make_certs(root / "certs"), sizes, profiler, pg)
        results, failed = asyncio.run(run(args.only, ctx))
    finally:
        stop_all()
        if pg is not None:
            pg.destroy()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    results["total_s"] = time.perf_counter() - t0
    results["store"] = "postgresql" if args.postgres else "sqlite"
    results["distinct_specs"] = args.distinct_specs
    out = {k: results.get(k) for k in KEYS} | {k: v for k, v in results.items() if k not in KEYS}
    out = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in out.items()}
    written = RESULTS_PG if args.postgres else RESULTS
    written.write_text(json.dumps(out, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\nwritten to {written.name}" + (f"; failed: {''.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
