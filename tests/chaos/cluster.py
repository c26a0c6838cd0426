"""The cluster of a chaos run: one master and three 2-slot workers as real processes,
each worker behind its own TCP proxy, with the signals the faults need and a record
of how long every SIGTERM took to end its process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.chaos.plan import WORKERS
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.procs import child_env
from tests.helpers.proxy import TcpProxy

# A bounded stop, when the daemons have one: the first flag of --help that names it.
_GRACE_FLAG = re.compile(r"(--(?:stop|shutdown|drain)-(?:grace|timeout))\b")
MASTER_GRACE_S = 5.0  # the master's call grace when it has no flag for it
STOP_SLACK_S = 2.0  # a process must be gone within its grace plus this
START_TRIES = 4
_BIND = re.compile(r"address already in use|failed to bind|add port", re.IGNORECASE)
READY_S = 90.0  # start-up on a loaded machine (a worker test-encodes first)


@dataclass
class StopRecord:
    who: str
    seconds: float  # SIGTERM to exit (to SIGKILL when it never exited)
    grace_s: float
    killed: bool  # it had to be SIGKILLed

    @property
    def overrun(self) -> bool:
        return self.killed or self.seconds > self.grace_s + STOP_SLACK_S


def grace_flag(module: str) -> str | None:
    out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                         text=True, env=child_env(), timeout=60, check=False).stdout
    m = _GRACE_FLAG.search(out)
    return m.group(1) if m else None


@dataclass
class ChaosCluster:
    root: Path
    heartbeat_s: float
    timeout_s: float
    longest_job_s: float  # a drain without a bound waits this long at most
    cluster: Cluster = field(init=False)
    proxies: dict[str, TcpProxy] = field(default_factory=dict)
    stops: list[StopRecord] = field(default_factory=list)
    start_failures: list[dict[str, str]] = field(default_factory=list)
    master_up_since: float = 0.0  # monotonic time of the last master start
    master_grace_s: float = MASTER_GRACE_S
    worker_grace_s: float = 0.0
    _master_args: list[str] = field(default_factory=list)
    _worker_args: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.cluster = Cluster(self.root, make_certs(self.root / "certs"))
        self._master_args = [
            "--heartbeat-interval", f"{self.heartbeat_s}s",
            "--heartbeat-timeout", f"{self.timeout_s}s",
            "--scheduler-interval", "10s",  # the default: liveness must not lean on it
            "--retry-backoff", "500ms", "--retry-backoff-max", "2s",
        ]  # fmt: skip
        if flag := grace_flag("ffrtmp.master.main"):
            self._master_args += [flag, str(self.master_grace_s)]
        self.worker_grace_s = self.longest_job_s + 1.0  # today's drain waits for its runs
        if flag := grace_flag("ffrtmp.worker.main"):
            self.worker_grace_s = 5.0
            self._worker_args = [flag, str(self.worker_grace_s)]
        self.start_master()
        for name in WORKERS:
            proxy = TcpProxy(self.cluster.port)
            self.proxies[name] = proxy
            self.start_worker(name)

    # -- processes ---------------------------------------------------------------
    def start_master(self) -> None:
        port = self.cluster.port or None
        self._started("master", lambda: self.cluster.start_master(
            *self._master_args, port=port, timeout=READY_S))  # fmt: skip
        self.master_up_since = time.monotonic()

    def start_worker(self, name: str) -> None:
        master = f"127.0.0.1:{self.proxies[name].port}"
        self._started(name, lambda: self.cluster.start_worker(
            name, *self._worker_args, slots=2, master=master, timeout=READY_S))  # fmt: skip

    def _started(self, who: str, start: Callable[[], object]) -> None:
        """A daemon that exits before it is ready is a finding of the run (recorded
        with its last lines), then started again: the run goes on."""
        for attempt in range(START_TRIES):
            try:
                start()
                return
            except AssertionError as exc:
                text = str(exc)
                if not _BIND.search(text):  # a port still held is the harness's timing
                    self.start_failures.append({"who": who, "error": text[-2000:]})
                if attempt == START_TRIES - 1:
                    raise
                time.sleep(0.5)  # a killed master's socket may linger a moment

    def master_pid(self) -> int:
        assert self.cluster.master is not None
        return self.cluster.master.pid

    def worker_pid(self, name: str) -> int:
        return self.cluster.workers[name].pid

    def kill_master(self) -> None:
        os.kill(self.master_pid(), signal.SIGKILL)
        assert self.cluster.master is not None
        self.cluster.master.popen.wait(10)

    def kill_worker(self, name: str) -> None:
        self.cluster.workers[name].kill()

    async def term(self, who: str) -> StopRecord:
        """SIGTERM `who` ("master" or a worker) and time its exit."""
        proc = self.cluster.master if who == "master" else self.cluster.workers[who]
        assert proc is not None
        grace = self.master_grace_s if who == "master" else self.worker_grace_s
        t0 = time.monotonic()
        proc.signal(signal.SIGTERM)
        limit = grace + STOP_SLACK_S + 10.0  # past this it is killed, a sure overrun
        try:
            await asyncio.to_thread(proc.popen.wait, limit)
            rec = StopRecord(who, time.monotonic() - t0, grace, killed=False)
        except subprocess.TimeoutExpired:
            proc.signal(signal.SIGKILL)
            await asyncio.to_thread(proc.popen.wait, 10)
            rec = StopRecord(who, time.monotonic() - t0, grace, killed=True)
        self.stops.append(rec)
        return rec

    def tree(self, name: str) -> list[int]:
        """The worker daemon and every process under it (ffmpeg runs in a session of
        its own, so a process group would miss it)."""
        pid = self.worker_pid(name)
        try:
            kids = psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [pid, *(k.pid for k in kids)]

    def stop_signal(self, pids: list[int], sig: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    # -- the end -----------------------------------------------------------------
    async def term_all(self) -> list[StopRecord]:
        """SIGTERM the master and every worker at the same moment (a host shutdown)."""
        names = ["master", *self.cluster.workers]
        return list(await asyncio.gather(*(self.term(n) for n in names)))

    def close(self) -> None:
        self.cluster.stop()
        for p in self.proxies.values():
            p.close()
