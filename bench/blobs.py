"""(g) Blob transfer through the master (local backend), one stream each way,
against a plain `cp` of the same bytes (followed by a sync of the copy, as the
master syncs a blob before it is visible). Each figure is the best of a few runs:
the cores are shared, the best run is the least disturbed one."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from tests.helpers.blobs import random_file

from bench.cluster import start_master
from bench.context import Ctx
from ffrtmp.client import Client
from ffrtmp.tls import pki

MB = 1_000_000
RUNS = 3


def _cp(src: Path, dst: Path) -> float:
    dst.unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    subprocess.run(["sync", str(dst)], check=True)
    return time.perf_counter() - t0


async def transfer(ctx: Ctx) -> dict[str, Any]:
    size = ctx.sizes.blob_mib * 1024 * 1024
    root = ctx.root / "blobs-bench"
    root.mkdir()
    master = start_master(root, ctx.certs, "blob-master", "--blob-dir", str(root / "store"))
    try:
        cert, key = ctx.certs.pair("bench-uploader")
        if not cert.exists():
            pki.issue(ctx.certs.dir, "client", "bench-uploader", role="admin")
        up, down, cp = [], [], []
        async with Client(master.target, ca=ctx.certs.ca, cert=cert, key=key) as client:
            t = client.transfer()
            for run in range(RUNS):
                src, _ = random_file(root / f"src{run}", size, seed=run)  # new bytes: no skip
                cp.append(_cp(src, root / "copy"))
                t0 = time.perf_counter()
                ref = await t.upload(src)
                up.append(time.perf_counter() - t0)
                out = root / "back"
                out.unlink(missing_ok=True)
                t0 = time.perf_counter()
                await t.download(ref.name, out)
                down.append(time.perf_counter() - t0)
                src.unlink()
    finally:
        master.stop()
    mbs = lambda secs: size / MB / min(secs)  # noqa: E731
    return {
        "blob_upload_mb_s": mbs(up),
        "blob_download_mb_s": mbs(down),
        "blob_cp_mb_s": mbs(cp),
        "blob_upload_ratio": min(cp) / min(up),
        "blob_download_ratio": min(cp) / min(down),
        "blob_bytes": size,
    }
