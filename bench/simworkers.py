"""`python -m bench.simworkers --target HOST:PORT --certs DIR --first I --count N`
runs simulated workers sim-I … sim-(I+N-1) (see tests/helpers/simworker.py), prints
"simworkers connected n=N" once every stream has its Welcome, and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from tests.helpers.simworker import SimWorker, start_fleet, worker_creds, worker_name


async def _main(args: argparse.Namespace) -> None:
    certs = Path(args.certs)
    names = [worker_name(i) for i in range(args.first, args.first + args.count)]
    workers = [
        SimWorker(name, args.target, worker_creds(certs, name), slots=args.slots) for name in names
    ]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    retried: list[str] = []
    async with asyncio.timeout(600):
        tasks = await start_fleet(workers, retried=retried)
    print(f"simworkers connected n={len(workers)} retried={len(retried)}", flush=True)
    ended = asyncio.ensure_future(asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED))
    await asyncio.wait({ended, asyncio.ensure_future(stop.wait())}, return_when="FIRST_COMPLETED")
    if not stop.is_set():
        print("simworkers: a stream ended early", flush=True)
    for t in tasks:
        t.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*tasks, return_exceptions=True)
    print(f"simworkers done assigns={sum(w.assigns for w in workers)}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(prog="bench.simworkers")
    p.add_argument("--target", required=True)
    p.add_argument("--certs", required=True)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--slots", type=int, default=1)
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
