"""`python -m tests.chaos.run --seed N --duration S --jobs J`: one master and three
2-slot workers as real processes with short heartbeat timings, a stream of real jobs,
a seeded fault schedule (printed first), an independent /proc watcher of ffmpeg;
then everything is healed, the run settles, and a table and a JSON file say what
was lost, run twice at once, stranded, duplicated or slow to stop. Exit status 1 on
any of those, 2 when the harness itself failed."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from ffrtmp.client import Client
from tests.chaos.cluster import ChaosCluster
from tests.chaos.faults import Injector
from tests.chaos.load import LONGEST_LIVE_S, Load
from tests.chaos.plan import KINDS, make_plan
from tests.chaos.report import TERMINAL, Report
from tests.chaos.seen import Seen
from tests.chaos.stranded import StrandedTracker
from tests.helpers.procs import stop_all


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration", type=float, default=75.0, help="seconds of faults")
    p.add_argument("--jobs", type=int, default=60, help="jobs to submit (bursts included)")
    p.add_argument("--heartbeat", type=float, default=0.5, help="heartbeat interval (s)")
    p.add_argument("--timeout", type=float, default=3.0, help="heartbeat timeout (s)")
    p.add_argument("--stranded-after", type=float, default=0.0,
                   help="seconds without an encoder (default: timeout + 3)")
    p.add_argument("--settle", type=float, default=180.0, help="longest wait for quiescence")
    p.add_argument("--root", type=Path, default=None, help="directory for DB, logs, outputs")
    p.add_argument("--json", type=Path, default=Path("chaos-results.json"))
    p.add_argument("--keep", action="store_true", help="keep the directory even on success")
    return p


async def settle(cc: ChaosCluster, load: Load, seen: Seen, seconds: float) -> bool:
    """Until every acknowledged job is terminal and no encoder of the run is alive."""
    deadline = time.monotonic() + seconds
    async with cc.cluster.client(retries=0, timeout=10) as c:
        while time.monotonic() < deadline:
            try:
                jobs = await c.list_all(limit=100_000)
            except Exception:
                await asyncio.sleep(0.5)
                continue
            done = {j.id for j in jobs if j.state in TERMINAL}
            if all(j in done for j in load.acked.values()) and not seen.alive():
                return True
            await asyncio.sleep(0.5)
    return False


async def chaos(args: argparse.Namespace, root: Path, report: Report) -> None:
    plan = make_plan(args.seed, args.duration, args.timeout)
    print(f"chaos: seed={args.seed} duration={args.duration:.0f}s jobs={args.jobs} "
          f"heartbeat={args.heartbeat}s timeout={args.timeout}s root={root}")  # fmt: skip
    print("fault plan:\n" + "\n".join("  " + f.describe() for f in plan), flush=True)
    seen = Seen(root)
    cc = ChaosCluster(root, args.heartbeat, args.timeout, LONGEST_LIVE_S)
    injector: Injector | None = None
    try:
        await asyncio.to_thread(cc.start)

        def client() -> Client:
            return cc.cluster.client(retries=0, timeout=5)

        load = Load(args.seed, client, on_ack=seen.rid_to_job.__setitem__)
        injector = Injector(cc, load, seen)
        tracker = StrandedTracker(seen, client, lambda: cc.master_up_since,
                                  args.stranded_after or args.timeout + 3.0)  # fmt: skip
        stop = asyncio.Event()
        tracking = asyncio.create_task(tracker.run(stop))
        bursts = sum(f.burst for f in plan)
        stream = asyncio.create_task(load.stream(max(args.jobs - bursts, args.jobs // 2),
                                                 args.duration * 0.9))  # fmt: skip
        t0 = time.monotonic()
        done, skipped, errors = [], [], []
        for f in plan:
            await asyncio.sleep(f.gap_s)
            if f.index > len(KINDS) and time.monotonic() - t0 > args.duration:
                skipped.append(f.kind)
                continue
            try:
                await injector.apply(f)
                done.append(f.kind)
            except Exception as exc:
                errors.append(f"{f.describe()}: {exc!r}")
                traceback.print_exc()
                await injector.heal()
        await injector.heal()
        await stream
        print(f"chaos: faults over after {time.monotonic() - t0:.0f}s; settling", flush=True)
        settled = await settle(cc, load, seen, args.settle)
        await asyncio.sleep(1.0)  # one more look for late encoders and stranded leases
        stop.set()
        await tracking
        leftovers = seen.alive()
        async with cc.cluster.client(retries=2, timeout=10) as c:
            jobs = await c.list_all(limit=100_000)
            full = {jid: await c.get(jid) for jid in load.acked.values()}
        summary = await asyncio.to_thread(seen.stop)
        finals = await cc.term_all()  # master and workers SIGTERMed at the same moment
        fig = report.figures
        fig["faults"] = len(done)
        fig.update({f"faults_{k}": Counter(done)[k] for k in KINDS})
        fig["faults_skipped"] = len(skipped)
        fig["harness_errors"] = len(errors)
        fig["settled"] = settled
        report.jobs(load.acked, jobs, full)
        report.watcher(summary, leftovers)
        report.stranded(list(tracker.found.values()), tracker.polls)
        report.stops(cc.stops, finals)
        fig["start_failures"] = len(cc.start_failures)
        report.outputs(root, full)
        report.noise(root)
        report.details.update(errors=errors, skipped=skipped, faults=injector.log,
                              start_failures=cc.start_failures)  # fmt: skip
    finally:
        await asyncio.to_thread(seen.stop)
        if injector is not None:
            await injector.heal_quietly()
        cc.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix="ffrtmp-chaos-"))
    root.mkdir(parents=True, exist_ok=True)
    report = Report(args.seed, args.duration)
    t0 = time.monotonic()
    crashed = False
    try:
        asyncio.run(chaos(args, root, report))
    except Exception:
        traceback.print_exc()
        crashed = report.crashed = True
    finally:
        stop_all()
    report.figures["elapsed_s"] = time.monotonic() - t0
    report.print_table()
    report.write(args.json)
    print(f"chaos: results in {args.json}", flush=True)
    failed = bool(report.failures())
    if failed or crashed or args.keep or report.figures.get("harness_errors"):
        print(f"chaos: logs, database and outputs kept in {root}", flush=True)
    else:
        shutil.rmtree(root, ignore_errors=True)
    if crashed or report.figures.get("harness_errors"):
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
