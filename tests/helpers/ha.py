"""Several real master processes on one throwaway PostgreSQL, each reaching the
database through a TCP proxy of its own (so any one can be cut off), and
workers given every master's address. Masters keep their port across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ffrtmp.client import Client
from tests.helpers.certs import ADMIN
from tests.helpers.cluster import READY, Cluster, make_certs
from tests.helpers.postgres import PgServer
from tests.helpers.procs import Proc
from tests.helpers.proxy import TcpProxy
from tests.helpers.rtmp import free_port


@dataclass
class HaCluster:
    root: Path
    pg: PgServer
    dsn: str
    lease_s: float = 3.0
    renew_s: float = 1.0
    heartbeat_timeout_s: float = 12.0
    base: Cluster = field(init=False)
    ports: dict[str, int] = field(default_factory=dict)
    masters: dict[str, Proc] = field(default_factory=dict)
    proxies: dict[str, TcpProxy] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base = Cluster(self.root, make_certs(self.root / "certs"))

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    @property
    def addresses(self) -> str:
        return ",".join(self.address(n) for n in self.ports)

    def start_master(self, name: str) -> Proc:
        if name not in self.ports:
            self.ports[name] = free_port()
            self.proxies[name] = TcpProxy(self.pg.port)
        via = self.dsn.replace(f":{self.pg.port}/", f":{self.proxies[name].port}/")
        certs = self.base.certs
        args = [
            sys.executable, "-m", "ffrtmp.master.main",
            "--listen", self.address(name), "--advertise", self.address(name),
            "--metrics-port", "0", "--metrics-host", "127.0.0.1",
            "--db", via, "--ca", str(certs.ca),
            "--cert", str(certs.dir / "master.crt"), "--key", str(certs.dir / "master.key"),
            "--heartbeat-interval", "1s", "--heartbeat-timeout", f"{self.heartbeat_timeout_s}s",
            "--scheduler-interval", "1s", "--retention", "0",
            "--lease", f"{self.lease_s}s", "--lease-renew", f"{self.renew_s}s",
            "--blob-dir", str(self.root / f"blobs-{name}"),
        ]  # fmt: skip
        proc = Proc(args, self.root / f"master-{name}.log")
        proc.wait_for(READY.pattern, 30)
        self.masters[name] = proc
        return proc

    def start_worker(self, name: str, slots: int = 2) -> Proc:
        return self.base.start_worker(name, slots=slots, master=self.addresses)

    def client(self, **kw: object) -> Client:
        cert, key = self.base.certs.pair(ADMIN)
        return Client(self.addresses, ca=self.base.certs.ca, cert=cert, key=key, **kw)  # type: ignore[arg-type]

    async def leader(self, timeout: float = 30.0, not_: str | None = None) -> tuple[str, int]:
        """(name, term) of the leader, once one leads (other than `not_`)."""
        deadline = time.monotonic() + timeout
        while True:
            for name in self.masters:
                if name == not_ or self.masters[name].popen.poll() is not None:
                    continue
                with contextlib.suppress(Exception):
                    async with self.client_of(name) as c:
                        st = await c.cluster_status()
                    for n in self.ports:
                        if st.leader_address == self.address(n) and n != not_:
                            return n, st.term
            assert time.monotonic() < deadline, "no leader elected"
            await asyncio.sleep(0.05)

    def client_of(self, name: str) -> Client:
        cert, key = self.base.certs.pair(ADMIN)
        return Client(self.address(name), ca=self.base.certs.ca, cert=cert, key=key,
                      retries=0, timeout=2.0)

    def stop(self) -> None:
        self.base.stop()
        for p in self.masters.values():
            with contextlib.suppress(Exception):
                p.stop()
        for proxy in self.proxies.values():
            with contextlib.suppress(Exception):
                proxy.close()
