"""A throwaway CA with the certificates a test or benchmark run needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpc import aio

from ffrtmp.tls import pki
from ffrtmp.tls.credentials import channel_credentials

ADMIN = "admin"  # the client certificate every helper uses, role admin
# The callers of one channel share it, as one client process would.
CLIENT_OPTIONS: list[tuple[str, Any]] = [("grpc.use_local_subchannel_pool", 1)]


@dataclass
class Certs:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.crt"

    def pair(self, name: str) -> tuple[Path, Path]:
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    def worker(self, name: str) -> tuple[Path, Path]:
        """A worker's pair, issued on first use (its node id is the certificate's name)."""
        if not (self.dir / f"{name}.crt").exists():
            pki.issue(self.dir, "worker", name)
        return self.pair(name)

    def client_channel(self, port: int) -> aio.Channel:
        cert, key = self.pair(ADMIN)
        creds = channel_credentials(self.ca, cert, key)
        return aio.secure_channel(f"127.0.0.1:{port}", creds, options=CLIENT_OPTIONS)


def make_certs(root: Path, hosts: Sequence[str] = ()) -> Certs:
    """A new CA in `root` with the master's pair (also valid for `hosts`) and an admin client."""
    pki.init_ca(root, hosts)
    pki.issue(root, "client", ADMIN, role="admin")
    return Certs(root)
