"""A master SIGKILLed while the CLI uploads an input through it: restarted on the
same database and blob directory, it still holds what it synced, and the CLI
(retrying UNAVAILABLE with backoff for up to two minutes) continues from there
instead of from 0. The master stays down for longer than the transfer library's
own eight retries would wait, so the CLI's patience is what carries it.

About 40 s of wall time: `make media-faults`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.certs import ADMIN
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.procs import Proc
from tests.helpers.proxy import TcpProxy

pytestmark = pytest.mark.skipif(
    os.environ.get("FFRTMP_MEDIA_FAULTS") != "1", reason="make media-faults runs these"
)

MIB = 1024 * 1024
SIZE = 48 * MIB
DOWN_S = 20.0  # longer than 8 retries with backoff capped at 3 s (at most ~18 s)


def _partial_bytes(blobs: Path) -> int:
    return sum(p.stat().st_size for p in blobs.glob("partial/*/data") if p.is_file())


async def test_the_cli_resumes_an_upload_after_the_master_is_killed(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(SIZE))
    sha = hashlib.sha256(big.read_bytes()).hexdigest()
    (tmp_path / "c").mkdir()
    cluster = Cluster(tmp_path / "c", make_certs(tmp_path / "certs"))
    proxy = None
    try:
        cluster.start_master()
        # The CLI talks to the master through a proxy that can hold the link still
        # while the master is killed: the kill then lands mid-upload for certain.
        proxy = TcpProxy(cluster.port)
        cert, key = cluster.certs.pair(ADMIN)
        cli = Proc([
            sys.executable, "-m", "ffrtmp.cli.main", "--master", f"127.0.0.1:{proxy.port}",
            "--ca", str(cluster.certs.ca), "--cert", str(cert), "--key", str(key),
            "-o", "json", "jobs", "submit", "--scenario", "test", "--input", str(big),
        ], tmp_path / "cli.log")
        blobs = cluster.root / "blobs"
        deadline = time.monotonic() + 60
        while _partial_bytes(blobs) < 4 * MIB:
            assert time.monotonic() < deadline and cli.popen.poll() is None, cli.lines
            time.sleep(0.005)
        proxy.pause()
        assert cluster.master is not None
        cluster.master.kill()
        kept = _partial_bytes(blobs)
        assert 0 < kept < SIZE
        time.sleep(DOWN_S)
        assert cli.popen.poll() is None, "".join(cli.lines)  # still trying
        cluster.start_master(*cluster.master_args, port=cluster.port)
        proxy.reset()  # the held connection was to the dead master
        proxy.resume()
        assert cli.popen.wait(120) == 0, "".join(cli.lines)
        job = json.loads("".join(line for line in cli.lines if not line.startswith("upload")))
        assert job["input"] == f"blob:sha256:{sha}"
        m = cluster.master.wait_for(rf"owners/admin/blobs/{sha}: upload resumed at byte (\d+)")
        resumed_at = int(m.group(1))
        # Only what the first master had not kept was sent again.
        assert resumed_at == kept, (resumed_at, kept)
        assert SIZE - resumed_at < SIZE
        data = next(blobs.glob(f"objects/**/{sha}*/data"), None) or next(
            p for p in blobs.rglob("data") if "partial" not in p.parts
        )
        assert hashlib.sha256(data.read_bytes()).hexdigest() == sha
        assert not re.search(r"Traceback", "".join(cli.lines))
    finally:
        if proxy is not None:
            proxy.close()
        cluster.stop()
