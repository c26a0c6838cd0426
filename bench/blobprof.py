"""Where (g)'s CPU goes: one master (local backend), RUNS uploads and downloads
of MIB MiB, and for each direction the user and system CPU a MB and the page
faults a MB of the master and of the client (this process). CPU a MB moves far
less than MB/s on a shared machine; compare code versions by alternating runs.

  python -m bench.blobprof [MIB] [RUNS]
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers.blobs import random_file
from tests.helpers.certs import make_certs

from bench.cluster import start_master
from ffrtmp.client import Client
from ffrtmp.tls import pki

Usage = tuple[float, float, int]  # user s, system s, minor faults


def _proc(pid: int) -> Usage:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = float(os.sysconf("SC_CLK_TCK"))
    return int(fields[11]) / tick, int(fields[12]) / tick, int(fields[7])


def _self() -> Usage:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def _per_mb(a: Usage, b: Usage, mb: float) -> str:
    return (
        f"user {1000 * (b[0] - a[0]) / mb:.2f} sys {1000 * (b[1] - a[1]) / mb:.2f} ms/MB, "
        f"{(b[2] - a[2]) / mb:.0f} faults/MB"
    )


async def main(mib: int, runs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="ffrtmp-blobprof-"))
    certs = make_certs(root / "certs")
    pki.issue(certs.dir, "client", "prof", role="admin")
    cert, key = certs.pair("prof")
    master = start_master(root, certs, "m", "--blob-dir", str(root / "store"))
    mb = (mib << 20) / 1e6
    try:
        async with Client(master.target, ca=certs.ca, cert=cert, key=key) as client:
            t = client.transfer()
            for run in range(runs):
                src, _ = random_file(root / f"src{run}", mib << 20, seed=time.time_ns())
                m0, c0, t0 = _proc(master.pid), _self(), time.perf_counter()
                ref = await t.upload(src)
                m1, c1, t1 = _proc(master.pid), _self(), time.perf_counter()
                await t.download(ref.name, root / "back")
                m2, c2, t2 = _proc(master.pid), _self(), time.perf_counter()
                print(f"run {run}: up {mb / (t1 - t0):.0f} MB/s, down {mb / (t2 - t1):.0f} MB/s")
                print(f"  up    master {_per_mb(m0, m1, mb)} | client {_per_mb(c0, c1, mb)}")
                print(f"  down  master {_per_mb(m1, m2, mb)} | client {_per_mb(c1, c2, mb)}")
                src.unlink()
                (root / "back").unlink()
    finally:
        master.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(args + [256, 3][len(args):])))
