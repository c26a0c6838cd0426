"""Real processes for tests: a throwaway CA, a master and worker daemons on
loopback free ports, each stopped by its pid when the test ends."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ffrtmp.client import Client
from tests.helpers.certs import ADMIN, Certs, make_certs
from tests.helpers.media import ffmpeg_under_test
from tests.helpers.procs import Proc, child_env

READY = re.compile(r"ffrtmp-master ready port=(\d+) metrics_port=(\d+)")

__all__ = ["READY", "Certs", "Cluster", "Proc", "make_certs", "running_cluster"]


@dataclass
class Cluster:
    root: Path
    certs: Certs
    master: Proc | None = None
    port: int = 0
    metrics_port: int = 0
    workers: dict[str, Proc] = field(default_factory=dict)
    master_args: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_master(self, *extra: str, port: int | None = None, timeout: float = 60.0) -> Proc:
        args = [
            sys.executable,
            "-m",
            "ffrtmp.master.main",
            "--listen",
            f"127.0.0.1:{port if port is not None else self.port}",
            "--metrics-port",
            "0",
            "--metrics-host",
            "127.0.0.1",
            "--db",
            str(self.root / "master.db"),
            "--ca",
            str(self.certs.ca),
            "--cert",
            str(self.certs.dir / "master.crt"),
            "--key",
            str(self.certs.dir / "master.key"),
            "--heartbeat-interval",
            "1s",
            "--heartbeat-timeout",
            "6s",
            "--scheduler-interval",
            "1s",
            *extra,
        ]
        self.master_args = list(extra)
        self.master = Proc(args, self.root / "master.log")
        m = self.master.wait_for(READY.pattern, timeout)
        self.port, self.metrics_port = int(m.group(1)), int(m.group(2))
        return self.master

    def start_worker(
        self, name: str, *extra: str, slots: int = 1, master: str | None = None,
        timeout: float = 60.0, cpu: int | None = None, cert_name: str = "",
    ) -> Proc:
        """`cpu`: the worker and its ffmpeg pinned to that CPU (benchmarks only).
        `cert_name`: run under that worker's certificate (so as that node) instead
        of its own; `name` still picks the log and the roots."""
        cert, key = self.certs.worker(cert_name or name)
        out = self.root / f"out-{name}"
        pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
        args = [
            *pin,
            sys.executable,
            "-m",
            "ffrtmp.worker.main",
            "--master",
            master or self.address,
            "--ca",
            str(self.certs.ca),
            "--cert",
            str(cert),
            "--key",
            str(key),
            "--slots",
            str(slots),
            "--metrics-port",
            "0",
            "--metrics-host",
            "127.0.0.1",
            "--output-root",
            str(out),
            "--input-root",
            str(self.root / "inputs"),
            "--input-cache",
            str(self.root / f"cache-{name}"),
            # The build FFRTMP_TEST_FFMPEG chose; a test's own --ffmpeg comes later and wins.
            "--ffmpeg",
            ffmpeg_under_test(),
            *extra,
        ]
        (self.root / "inputs").mkdir(exist_ok=True)
        proc = Proc(args, self.root / f"worker-{name}.log")
        self.workers[name] = proc
        # Generous: the start-up probe runs several ffmpeg calls, slow on a busy host.
        proc.wait_for(r"ffrtmp-worker ready", timeout)
        return proc

    def output_dir(self, name: str) -> Path:
        return self.root / f"out-{name}"

    def client(self, **kw: object) -> Client:
        cert, key = self.certs.pair(ADMIN)
        return Client(self.address, ca=self.certs.ca, cert=cert, key=key, **kw)  # type: ignore[arg-type]

    async def wait_nodes(self, n: int, timeout: float = 60.0) -> None:
        async with self.client() as c:
            deadline = time.monotonic() + timeout
            while True:
                nodes = await c.list_nodes()
                if sum(1 for x in nodes if x.state == 1) >= n:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"{n} nodes not online: {nodes}")
                await asyncio.sleep(0.1)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cert, key = self.certs.pair(ADMIN)
        env = child_env()
        env.update(
            FFRTMP_MASTER=self.address,
            FFRTMP_CA=str(self.certs.ca),
            FFRTMP_CERT=str(cert),
            FFRTMP_KEY=str(key),
        )
        return subprocess.run(
            [sys.executable, "-m", "ffrtmp.cli.main", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_master_cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ffrtmp.master.main", *args], env=child_env(),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def stop(self) -> None:
        for w in self.workers.values():
            with contextlib.suppress(Exception):
                w.stop()
        if self.master is not None:
            with contextlib.suppress(Exception):
                self.master.stop()


@contextlib.contextmanager
def running_cluster(root: Path, workers: int = 2, *master_args: str) -> Iterator[Cluster]:
    cluster = Cluster(root, make_certs(root / "certs"))
    try:
        cluster.start_master(*master_args)
        for i in range(workers):
            cluster.start_worker(f"w{i + 1}")
        yield cluster
    finally:
        cluster.stop()
