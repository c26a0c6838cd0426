"""`ffrtmp-master migrate`: a SQLite store copied into PostgreSQL row for row,
counts checked; a non-empty target, a bad URL, an unreachable server and a
missing file are refused in one line, without a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ffrtmp.core.model import JobEvent, JobState
from ffrtmp.master.storage.postgres import importer
from ffrtmp.master.storage.postgres.lease import lead
from ffrtmp.master.storage.postgres.store import PgStore
from ffrtmp.master.storage.protocol import ApiKey, Change, JobStore
from ffrtmp.master.storage.sqlite.store import SqliteStore
from tests.helpers.postgres import PgServer, free_port, run_async
from tests.helpers.procs import child_env
from tests.helpers.store_rows import T0
from tests.helpers.store_rows import assign as _assign
from tests.helpers.store_rows import insert as _insert
from tests.helpers.store_rows import job as _job

S = JobState


async def _fill(store: JobStore) -> None:
    for n in range(1, 6):
        await _insert(store, n, request_id=f"r{n}")
    await store.apply([_assign("job1", 1), _assign("job2", 1)])
    await store.apply([Change("job1", frozenset({S.ASSIGNED}), S.FAILED, "boom", T0 + 200,
                              fields=(("error", "exit 1"), ("exit_code", 1)))])
    await store.upsert_node("w1", {"slots": 2}, "10.0.0.5", T0)
    await store.set_drained("w2", True, T0)
    await store.add_api_key(ApiKey("k1", "alice", "admin", b"\x01" * 32, T0, "test"))
    await store.revoke_api_key("k1", T0 + 5)
    for i in range(3):
        await store.audit(T0 + i, "alice", "admin", "submit", f"job{i}", "d")


async def _snapshot(store: JobStore) -> tuple[object, ...]:
    jobs = await store.list_jobs(limit=100)
    events = [await store.events(j.id) for j in jobs]
    return (jobs, events, await store.known_nodes(), await store.api_keys(),
            await store.audit_events(None, 100))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "ffrtmp.db"

    async def make() -> None:
        store = SqliteStore(path)
        await store.open()
        try:
            await _fill(store)
        finally:
            await store.close()

    run_async(make())
    return path


def test_migrate_copies_everything_and_checks_counts(source: Path, pg_dsn: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ffrtmp.master.main", "migrate", "--from", str(source),
         "--to", pg_dsn],
        capture_output=True, text=True, timeout=120, env=child_env(), check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "jobs 5, job_events 8, nodes 2, api_keys 1, audit 3 (counts checked)" in r.stdout

    async def compare() -> None:
        lite, pg = SqliteStore(source), PgStore(pg_dsn)
        await lite.open()
        await pg.open()
        try:
            assert await _snapshot(pg) == await _snapshot(lite)
            # The lease was given back: a master can lead at once; new rows follow the old.
            await lead(pg, "master")
            new = await _insert(pg, 9)
            assert new.seq == 6
            await pg.audit(T0, "a", "admin", "x", "", "")
            assert (await pg.audit_events(None, 1))[0].id == 4
        finally:
            await lite.close()
            await pg.close()

    run_async(compare())


def test_a_non_empty_target_is_refused_unless_replaced(
    source: Path, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert importer.main(["--from", str(source), "--to", pg_dsn]) == 0
    assert importer.main(["--from", str(source), "--to", pg_dsn]) == 2
    assert "already holds rows (jobs 5, job_events 8" in capsys.readouterr().err
    assert importer.main(["--from", str(source), "--to", pg_dsn, "--replace"]) == 0
    assert "jobs 5," in capsys.readouterr().out


def test_the_lease_of_a_running_master_blocks_a_migration(
    source: Path, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def leader() -> None:
        store = PgStore(pg_dsn)
        await store.open()
        await lead(store, "m1", "10.0.0.1:50051")
        await store.close()

    run_async(leader())
    assert importer.main(["--from", str(source), "--to", pg_dsn]) == 2
    assert "m1 (10.0.0.1:50051) holds the leader lease" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", "{missing}", "--to", "{dsn}"], "no such file"),
        (["--from", "{src}", "--to", "mysql://u:secret@h/x"], "unknown store"),
        (["--from", "{src}", "--to", "{lite}"], "give a postgresql:// URL"),
        (["--from", "{src}", "--to", "postgresql://u:secret@127.0.0.1:{port}/x"],
         "cannot open the PostgreSQL store"),
        (["--from", "{garbage}", "--to", "{dsn}"], "not a SQLite database"),
    ],
)
def test_bad_input_is_one_line_without_a_traceback(
    args: list[str], says: str, source: Path, postgres: PgServer, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite at all" * 100)
    values = dict(missing=str(tmp_path / "nope.db"), dsn=postgres.dsn(), src=str(source),
                  lite=str(tmp_path / "other.db"), port=str(free_port()), garbage=str(garbage))
    assert importer.main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err
    assert says in err and "secret" not in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_request_ids_from_before_owner_scoping_still_match_their_owner(
    source: Path, pg_dsn: str
) -> None:
    """Rows written before request ids were scoped by owner hold the bare id; a
    retry by the same owner after the move must still find its job."""
    lite = sqlite3.connect(source)
    with lite:
        lite.execute("UPDATE jobs SET request_id = 'legacy' WHERE id = 'job3'")
    lite.close()
    assert importer.main(["--from", str(source), "--to", pg_dsn]) == 0

    async def retry() -> None:
        store = PgStore(pg_dsn)
        await store.open()
        try:
            await lead(store, "m1")
            ev = JobEvent(T0, None, S.QUEUED, "submitted", "", 0)
            again, created = await store.insert_job(_job(20, request_id="legacy"), ev)
            assert (again.id, created) == ("job3", False)
            theirs, created = await store.insert_job(
                _job(21, request_id="legacy", owner="mallory"), ev)
            assert (theirs.id, created) == ("job21", True)
        finally:
            await store.close()

    run_async(retry())
