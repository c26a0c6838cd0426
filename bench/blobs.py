"""(g) Blob transfer through the master (local backend), one stream each way,
against plain tools moving the same bytes (bench/baselines.py): `cp` and `dd`
(to disk with a sync, as the master syncs a blob before it is visible) and
`curl` over TLS on loopback each way (through a process on each side,
encrypted, to disk: the baseline the targets are judged against), and one
SHA-256 pass over the bytes (what any verified copy costs at least: an upload
is hashed by the client before it is sent and by the master as it arrives, a
download by the client). Each figure is the best of a few runs: the cores are
shared, the best run is the least disturbed one. The master's CPU time per MB
is steadier than MB/s."""

from __future__ import annotations

import time
from typing import Any

from tests.helpers.blobs import random_file
from tests.helpers.procs import cpu_seconds

from bench import baselines
from bench.cluster import start_master
from bench.context import BenchRun
from ffrtmp.client import Client
from ffrtmp.client.blobref import file_digest
from ffrtmp.tls import pki

MB = 1_000_000
RUNS = 3


async def transfer(ctx: BenchRun) -> dict[str, Any]:
    size = ctx.sizes.blob_mib * 1024 * 1024
    root = ctx.root / "blobs-bench"
    root.mkdir()
    master = start_master(root, ctx.certs, "blob-master", "--blob-dir", str(root / "store"))
    try:
        cert, key = ctx.certs.pair("bench-uploader")
        if not cert.exists():
            pki.issue(ctx.certs.dir, "client", "bench-uploader", role="admin")
        tls = ctx.certs.dir / "master.crt", ctx.certs.dir / "master.key"
        up, down, cp, dd, sha, tls_up, tls_down = [], [], [], [], [], [], []
        cpu_up = cpu_down = 0.0  # the master's CPU seconds, over all runs
        async with Client(master.target, ca=ctx.certs.ca, cert=cert, key=key) as client:
            t = client.transfer()
            for run in range(RUNS):
                src, _ = random_file(root / f"src{run}", size, seed=run)  # new bytes: no skip
                copy = root / "copy"
                cp.append(baselines.cp(src, copy))
                dd.append(baselines.dd(src, copy))
                tls_up.append(baselines.tls_up(src, copy, *tls))
                tls_down.append(baselines.tls_down(src, copy, *tls))
                copy.unlink()
                t0 = time.perf_counter()
                file_digest(src)  # one hash pass: no verified copy is faster
                sha.append(time.perf_counter() - t0)
                c0, t0 = cpu_seconds(master.pid), time.perf_counter()
                ref = await t.upload(src)
                up.append(time.perf_counter() - t0)
                c1 = cpu_seconds(master.pid)
                cpu_up += c1 - c0
                out = root / "back"
                out.unlink(missing_ok=True)
                t0 = time.perf_counter()
                await t.download(ref.name, out)
                down.append(time.perf_counter() - t0)
                cpu_down += cpu_seconds(master.pid) - c1
                src.unlink()
    finally:
        master.stop()
    mbs = lambda secs: size / MB / min(secs)  # noqa: E731
    return {
        "blob_upload_mb_s": mbs(up),
        "blob_download_mb_s": mbs(down),
        "blob_cp_mb_s": mbs(cp),
        "blob_tls_up_mb_s": mbs(tls_up),
        "blob_tls_down_mb_s": mbs(tls_down),
        "blob_upload_ratio": min(tls_up) / min(up),
        "blob_download_ratio": min(tls_down) / min(down),
        "blob_upload_of_cp": min(cp) / min(up),
        "blob_download_of_cp": min(cp) / min(down),
        "blob_bytes": size,
        "blob_sha256_mb_s": mbs(sha),
        "blob_dd_mb_s": mbs(dd),
        "blob_upload_of_dd": min(dd) / min(up),
        "blob_download_of_dd": min(dd) / min(down),
        "blob_master_cpu_ms_per_mb_up": 1000 * cpu_up / (RUNS * size / MB),
        "blob_master_cpu_ms_per_mb_down": 1000 * cpu_down / (RUNS * size / MB),
    }
