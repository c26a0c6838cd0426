"""One master per database and per port: a second one is refused at start,
says why, and exits non-zero; its files are private to its user."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.procs import child_env


def _second(c: Cluster, *args: str, db: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable, "-m", "ffrtmp.master.main",
        "--db", str(db or c.root / "master.db"),
        "--ca", str(c.certs.ca),
        "--cert", str(c.certs.dir / "master.crt"),
        "--key", str(c.certs.dir / "master.key"),
        "--metrics-host", "127.0.0.1",
        *args,
    ]
    return subprocess.run(argv, env=child_env(), capture_output=True, text=True, timeout=30,
                          check=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_second_master_is_refused(tmp_path: Path) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        first = c.start_master()
        # Same database, other ports: the lock names the holder.
        r = _second(c, "--listen", f"127.0.0.1:{_free_port()}", "--metrics-port", "0")
        assert r.returncode != 0
        assert "in use by another master" in r.stderr and f"pid {first.pid}" in r.stderr, \
            r.stderr
        # Another database, the same gRPC port: no port sharing.
        r = _second(c, "--listen", c.address, "--metrics-port", "0", db=tmp_path / "b.db")
        assert r.returncode != 0
        assert c.address in r.stderr and "gRPC" in r.stderr, r.stderr
        # Another database and gRPC port, the same metrics port.
        r = _second(c, "--listen", f"127.0.0.1:{_free_port()}",
                    "--metrics-port", str(c.metrics_port), db=tmp_path / "c.db")
        assert r.returncode != 0
        assert f"127.0.0.1:{c.metrics_port} (metrics)" in r.stderr, r.stderr
        # A busy health port too.
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            r = _second(c, "--listen", f"127.0.0.1:{_free_port()}", "--metrics-port", "0",
                        "--health-port", str(port), db=tmp_path / "d.db")
        assert r.returncode != 0
        assert f"127.0.0.1:{port} (health)" in r.stderr, r.stderr
        assert first.popen.poll() is None  # the first one is untouched
    finally:
        c.stop()
    # Once the first has stopped, the database is free again.
    try:
        c.start_master()
    finally:
        c.stop()


def test_database_and_backups_are_private(tmp_path: Path) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    old = os.umask(0o022)
    try:
        c.start_master()
        r = c.run_master_cli("backup", "--db", str(tmp_path / "master.db"),
                             "--to", str(tmp_path / "copy.db"))
        assert r.returncode == 0, r.stderr
        for name in ("master.db", "master.db-wal", "master.db-shm", "copy.db"):
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode == 0o600, (name, oct(mode))
    finally:
        os.umask(old)
        c.stop()
