"""(g) What a blob transfer is compared with: plain tools moving the same bytes.

Each returns the seconds from start to the copy being on disk (synced), as the
master syncs a blob before it is visible and a download is complete only once
written:
  cp       a local copy (the kernel may copy without passing the bytes through
           a process: an upper bound no network transfer reaches);
  dd       a copy through a process, 1 MiB at a time;
  tls_up   `curl -T` sending the file over HTTPS on loopback to a minimal
           server that writes the body to a file (bench/tls_peer.py);
  tls_down `curl` fetching the file over HTTPS from that server, to a file.
The TLS pair moves the bytes the way the blob service does (through a process
on each side, encrypted, to disk), without its protocol or its checks.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

TOOLS = ("openssl", "curl")


def _sync(path: Path) -> None:
    subprocess.run(["sync", str(path)], check=True)


def cp(src: Path, dst: Path) -> float:
    dst.unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    _sync(dst)
    return time.perf_counter() - t0


def dd(src: Path, dst: Path) -> float:
    dst.unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["dd", f"if={src}", f"of={dst}", "bs=1M", "status=none"], check=True)
    _sync(dst)
    return time.perf_counter() - t0


def _curl(peer: list[str], curl: list[str]) -> float:
    """Seconds for `curl` to finish with a one-request tls_peer (started first)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.tls_peer", *peer], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = f"https://127.0.0.1:{int(proc.stdout.readline())}/blob"
        t0 = time.perf_counter()
        subprocess.run(["curl", "-sSfk", *curl, url], check=True)
        proc.wait(timeout=60)
        return time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def tls_up(src: Path, dst: Path, cert: Path, key: Path) -> float:
    # No "Expect: 100-continue": curl would wait a second for an answer first.
    dst.unlink(missing_ok=True)
    upload = ["-T", str(src), "-H", "Expect:", "-o", "/dev/null"]
    secs = _curl([str(cert), str(key), "put", str(dst)], upload)
    t0 = time.perf_counter()
    _sync(dst)
    return _checked(src, dst, secs + time.perf_counter() - t0)


def tls_down(src: Path, dst: Path, cert: Path, key: Path) -> float:
    dst.unlink(missing_ok=True)
    secs = _curl([str(cert), str(key), "get", str(src)], ["-o", str(dst)])
    t0 = time.perf_counter()
    _sync(dst)
    return _checked(src, dst, secs + time.perf_counter() - t0)


def _checked(src: Path, dst: Path, secs: float) -> float:
    if dst.stat().st_size != src.stat().st_size:
        moved, size = dst.stat().st_size, src.stat().st_size
        raise RuntimeError(f"a TLS baseline moved {moved} bytes, not {size}")
    return secs
