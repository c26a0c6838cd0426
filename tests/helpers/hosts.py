"""A cluster spread over test hosts (tests/helpers/netns.py): the master in the root
namespace, each worker and the CLI (the user's "laptop") a host of their own with
their own certificates and directories, none of which another host can see.

The master listens on the LAN's hub address, a veth address private to the test,
rather than on loopback (which the hosts cannot reach) or 0.0.0.0 (which would
expose it beyond the test); its certificate names that address.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.certs import ADMIN, make_certs
from tests.helpers.cluster import Cluster
from tests.helpers.media import ffmpeg_under_test
from tests.helpers.netns import Host, Lan, lan
from tests.helpers.procs import Proc, child_env
from tests.helpers.tty import run_with_tty_stderr

LAPTOP = "laptop"
MASTER = "master"  # the master's directory: database, blob root, the CA


@dataclass
class LanCluster(Cluster):
    lan: Lan | None = None

    @property
    def net(self) -> Lan:
        assert self.lan is not None
        return self.lan

    @property
    def address(self) -> str:
        return f"{self.net.hub}:{self.port}"

    def host(self, name: str) -> Host:
        return self.net.hosts[name]

    def start_master(self, *extra: str, port: int | None = None, timeout: float = 60.0) -> Proc:
        listen = ["--listen", f"{self.net.hub}:{port if port is not None else self.port}"]
        return super().start_master(*listen, *extra, timeout=timeout)  # the later flag wins

    def _credentials(self, host: Host, name: str) -> tuple[Path, Path, Path]:
        """The host's own copy of the CA certificate and of its pair."""
        certs = host.dir / "certs"
        certs.mkdir(exist_ok=True)
        cert, key = self.certs.worker(name) if host.name != LAPTOP else self.certs.pair(ADMIN)
        for f in (self.certs.ca, cert, key):
            shutil.copy2(f, certs / f.name)
        return certs / self.certs.ca.name, certs / cert.name, certs / key.name

    def input_root(self, name: str) -> Path:
        return self.host(name).dir / "in"

    def output_dir(self, name: str) -> Path:
        return self.host(name).dir / "out"

    def cache_dir(self, name: str) -> Path:
        return self.host(name).dir / "cache"

    def start_worker(
        self, name: str, *extra: str, slots: int = 1, master: str | None = None,
        timeout: float = 60.0,
    ) -> Proc:
        host = self.host(name)
        ca, cert, key = self._credentials(host, name)
        self.input_root(name).mkdir(exist_ok=True)
        cmd = [
            sys.executable, "-m", "ffrtmp.worker.main",
            "--master", master or self.address,
            "--ca", str(ca), "--cert", str(cert), "--key", str(key),
            "--slots", str(slots),
            "--metrics-port", "0", "--metrics-host", "127.0.0.1",  # the host's own loopback
            "--input-root", str(self.input_root(name)),
            "--output-root", str(self.output_dir(name)),
            "--input-cache", str(self.cache_dir(name)),
            "--ffmpeg", ffmpeg_under_test(),
            *extra,
        ]
        proc = Proc(host.argv(cmd), self.root / f"worker-{name}.log")
        self.workers[name] = proc
        proc.wait_for(r"ffrtmp-worker ready", timeout)
        return proc

    @property
    def laptop(self) -> Path:
        return self.host(LAPTOP).dir

    def cli(
        self, *args: str, timeout: float = 60, tty: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """`ffrtmp ARGS` on the laptop host, in its directory (`--input ./clip.mp4`);
        with `tty`, stderr is a terminal and the result's stderr what it showed."""
        ca, cert, key = self._credentials(self.host(LAPTOP), ADMIN)
        env = child_env()
        env.update(FFRTMP_MASTER=self.address, FFRTMP_CA=str(ca), FFRTMP_CERT=str(cert),
                   FFRTMP_KEY=str(key))
        cmd = self.host(LAPTOP).argv([sys.executable, "-m", "ffrtmp.cli.main", *args])
        if tty:
            return run_with_tty_stderr(cmd, env, self.laptop, timeout)
        return subprocess.run(cmd, env=env, cwd=self.laptop, capture_output=True, text=True,
                              timeout=timeout, check=False)


@contextlib.contextmanager
def lan_cluster(root: Path, workers: Sequence[str]) -> Iterator[LanCluster]:
    """The master started; the workers' hosts made (start them with start_worker)."""
    with lan(root, [LAPTOP, *workers], private=[MASTER]) as net:
        cluster = LanCluster(root / MASTER, make_certs(root / MASTER / "certs", [net.hub]),
                             lan=net)
        try:
            cluster.start_master()
            yield cluster
        finally:
            cluster.stop()  # before the namespaces go
