"""A throwaway PostgreSQL server for tests: Debian's binaries, a data directory in
a temporary folder, 127.0.0.1 on a free port, fsync on (what production runs).

PostgreSQL refuses to run as root; a root test run starts it as the `postgres`
OS user (Debian's package creates it) or `nobody`. `PgServer` can be stopped,
started and restarted on the same port (the failover tests restart the database
under running masters). Fixtures: `postgres` (one server per session) and
`pg_dsn` (a fresh, empty database per test, copied from a template).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
SUPERUSER = "ffrtmp"
TEMPLATE = "ffrtmp_template"


def find_bin(name: str) -> str | None:
    """`name` on PATH, else in the newest /usr/lib/postgresql/*/bin."""
    if found := shutil.which(name):
        return found
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True,
                         key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0):
        if os.access(os.path.join(bindir, name), os.X_OK):
            return os.path.join(bindir, name)
    return None


def why_unavailable() -> str | None:
    """None when a server can be started here, else the reason (for a skip)."""
    if find_bin("initdb") is None or find_bin("pg_ctl") is None:
        return "PostgreSQL binaries not found (make postgres installs Debian's package)"
    if os.geteuid() == 0 and _run_as() is None:
        return "running as root and neither a postgres nor a nobody user exists"
    return None


def _run_as() -> pwd.struct_passwd | None:
    """The OS user to run the server as when we are root."""
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class PgServer:
    """One PostgreSQL cluster in a temporary directory. Not started by __init__."""

    def __init__(self, port: int | None = None) -> None:
        reason = why_unavailable()
        if reason:
            raise RuntimeError(reason)
        self.port = port or free_port()
        # Not under pytest's tmp_path: its parents are closed to the server's user.
        self.root = Path(tempfile.mkdtemp(prefix="ffrtmp-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._user = _run_as() if os.geteuid() == 0 else None
        self._background = concurrent.futures.ThreadPoolExecutor(1)
        self._spare: tuple[str, concurrent.futures.Future[str]] | None = None
        if self._user is not None:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
        self._initdb()

    # -- addresses ------------------------------------------------------------
    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # -- control --------------------------------------------------------------
    def _cmd(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self._user.pw_name, "--"] if self._user else []
        return subprocess.run([*prefix, *argv], check=check, capture_output=True, text=True,
                              timeout=120, cwd=self.root)

    def _initdb(self) -> None:
        initdb = find_bin("initdb")
        assert initdb is not None
        self._cmd(initdb, "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
                  "-E", "UTF8", "--no-locale", "--no-instructions")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n"
                "max_connections = 200\n"
                "shared_buffers = 32MB\n"
                "log_min_messages = warning\n"
            )

    def start(self) -> None:
        pg_ctl = find_bin("pg_ctl")
        assert pg_ctl is not None
        proc = self._cmd(pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                         "start", check=False)
        if proc.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {proc.stderr}{proc.stdout}\n{tail}")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends sessions and shuts down cleanly; `immediate` is a crash
        (recovery replays the WAL at the next start)."""
        pg_ctl = find_bin("pg_ctl")
        assert pg_ctl is not None
        self._cmd(pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        pg_ctl = find_bin("pg_ctl")
        assert pg_ctl is not None
        return self._cmd(pg_ctl, "-D", str(self.data), "status", check=False).returncode == 0

    def destroy(self) -> None:
        self._background.shutdown(wait=True, cancel_futures=True)
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases ------------------------------------------------------------
    async def execute(self, sql: str, database: str = "postgres") -> None:
        import asyncpg  # here so that importing this module needs no driver

        conn = await asyncpg.connect(self.dsn(database))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def _make_database(self, template: str) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        run_async(self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return name

    def create_database(self, template: str = TEMPLATE) -> str:
        """A new empty database copied from `template`; returns its name. With fsync
        on a copy takes about a second, so the next one is made in the background
        while the test runs."""
        spare, self._spare = self._spare, None
        name = None
        if spare is not None and spare[0] == template:
            with contextlib.suppress(Exception):  # made before a stop or restart
                name = spare[1].result()
        if name is None:
            name = self._make_database(template)
        self._spare = (template, self._background.submit(self._make_database, template))
        return name

    def drop_database(self, name: str) -> None:
        sql = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        self._background.submit(lambda: asyncio.run(self.execute(sql)))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgServer]:
    """A running PostgreSQL for the session (skips, naming why, where none can run)."""
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    server = PgServer()
    try:
        server.start()
        run_async(server.execute(f'CREATE DATABASE "{TEMPLATE}"'))
        yield server
    finally:
        server.destroy()


@pytest.fixture
def pg_dsn(postgres: PgServer) -> Iterator[str]:
    """The DSN of a fresh, empty database for one test."""
    if not postgres.running:  # a test that stopped it must not break the next one
        postgres.start()
    name = postgres.create_database()
    try:
        yield postgres.dsn(name)
    finally:
        if not postgres.running:
            postgres.start()
        postgres.drop_database(name)
