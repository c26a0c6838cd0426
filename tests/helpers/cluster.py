"""Real processes for tests: a throwaway CA, a master and worker daemons on
loopback free ports, each stopped by its pid when the test ends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ffrtmp.client import Client
from ffrtmp.tls import pki
from tests.helpers.media import ffmpeg_under_test

READY = re.compile(r"ffrtmp-master ready port=(\d+) metrics_port=(\d+)")


@dataclass
class Certs:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    def pair(self, name: str) -> tuple[Path, Path]:
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    def worker(self, name: str) -> tuple[Path, Path]:
        if not (self.dir / f"{name}.crt").exists():
            pki.issue(self.dir, "worker", name)
        return self.pair(name)


def make_certs(root: Path) -> Certs:
    pki.init_ca(root)
    pki.issue(root, "client", "admin", role="admin")
    return Certs(root)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    # Nothing from the developer's environment may steer the daemons under test.
    for k in list(env):
        if k.startswith("FFRTMP_"):
            del env[k]
    return env


class Proc:
    """A daemon whose output is collected to a log file and scanned for lines."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log_path = log
        self._log = open(log, "a", buffering=1)  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env()
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self._log.write(line)
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if m := rx.search(line):
                        return m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and seen == len(self.lines)):
                    tail = "".join(self.lines[-30:])
                    raise AssertionError(f"{pattern!r} not seen from {self.argv[2]}:\n{tail}")
                self._cond.wait(min(left, 0.2))

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        self._thread.join(5)
        self._log.close()

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.popen.wait(10)


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

    def start_master(self, *extra: str, port: int | None = None) -> Proc:
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
        m = self.master.wait_for(READY.pattern)
        self.port, self.metrics_port = int(m.group(1)), int(m.group(2))
        return self.master

    def start_worker(
        self, name: str, *extra: str, slots: int = 1, master: str | None = None
    ) -> Proc:
        cert, key = self.certs.worker(name)
        out = self.root / f"out-{name}"
        args = [
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
            # The build FFRTMP_TEST_FFMPEG chose; a test's own --ffmpeg comes later and wins.
            "--ffmpeg",
            ffmpeg_under_test(),
            *extra,
        ]
        (self.root / "inputs").mkdir(exist_ok=True)
        proc = Proc(args, self.root / f"worker-{name}.log")
        self.workers[name] = proc
        # Generous: the start-up probe runs several ffmpeg calls, slow on a busy host.
        proc.wait_for(r"ffrtmp-worker ready", timeout=60)
        return proc

    def output_dir(self, name: str) -> Path:
        return self.root / f"out-{name}"

    def client(self, **kw: object) -> Client:
        cert, key = self.certs.pair("admin")
        return Client(self.address, ca=self.certs.ca, cert=cert, key=key, **kw)  # type: ignore[arg-type]

    async def wait_nodes(self, n: int, timeout: float = 20.0) -> None:
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
        cert, key = self.certs.pair("admin")
        env = _env()
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
        return subprocess.run([sys.executable, "-m", "ffrtmp.master.main", *args], env=_env(),
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
