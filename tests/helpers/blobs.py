"""An in-process master for blob tests, and clients of any role on it."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from grpc import aio

from ffrtmp.client import Client
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.server import Master
from ffrtmp.master.storage.blobs.config import BlobConfig
from ffrtmp.tls import pki
from tests.helpers.certs import Certs, make_certs


def random_file(path: Path, size: int, seed: int = 0) -> tuple[Path, str]:
    """`size` pseudo-random bytes (incompressible, reproducible) and their SHA-256."""
    rng, h = random.Random(seed), hashlib.sha256()
    with path.open("wb") as f:
        for start in range(0, size, 1 << 22):
            buf = rng.randbytes(min(1 << 22, size - start))
            f.write(buf)
            h.update(buf)
    return path, h.hexdigest()


@dataclasses.dataclass
class BlobMaster:
    master: Master
    certs: Certs

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.master.port}"

    def client(self, name: str = "admin", role: str = "admin", port: int | None = None) -> Client:
        cert, key = self.certs.pair(name)
        if not cert.exists():
            pki.issue(self.certs.dir, "client", name, role=role)
        where = f"127.0.0.1:{port or self.master.port}"
        return Client(where, ca=self.certs.ca, cert=cert, key=key)

    def worker_channel(self, node: str) -> aio.Channel:
        from ffrtmp.tls.credentials import channel_credentials

        cert, key = self.certs.worker(node)
        return aio.secure_channel(self.address, channel_credentials(self.certs.ca, cert, key))


@asynccontextmanager
async def blob_master(tmp: Path, **blob_settings: object) -> AsyncIterator[BlobMaster]:
    certs = make_certs(tmp / "certs")
    os.makedirs(tmp / "data", exist_ok=True)
    config = MasterConfig(
        listen="127.0.0.1:0",
        metrics_port=-1,
        db=tmp / "data" / "m.db",
        ca=certs.ca,
        cert=certs.dir / "master.crt",
        key=certs.dir / "master.key",
        blobs=BlobConfig(**blob_settings),  # type: ignore[arg-type]
    )
    master = Master(config)
    await master.start()
    try:
        yield BlobMaster(master, certs)
    finally:
        await master.stop(grace=0)
