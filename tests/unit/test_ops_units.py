"""Operations helpers without a cluster: log formats and context, the worker's
bitrate parsing, retention's batched delete, incremental vacuum and backup."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from ffrtmp import logcontext
from ffrtmp.core.model import JobState
from ffrtmp.logsetup import JsonFormatter, TextFormatter
from ffrtmp.master.storage.sqlite import file as sqlite_file
from ffrtmp.master.storage.sqlite.backup import backup
from ffrtmp.master.storage.sqlite.migrations import migrate
from ffrtmp.master.storage.sqlite.upkeep import delete_batch
from ffrtmp.worker.metrics import stats_bitrate_bps


def _record(msg: str = "job %s done", **fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("ffrtmp.x", logging.INFO, __file__, 1, msg, ("j1",), None)
    for k, v in fields.items():
        setattr(rec, k, v)
    return rec


def test_text_format_appends_job_fields_and_json_has_them_as_keys() -> None:
    rec = _record(job_id="j1", attempt=2)
    assert TextFormatter().format(rec).endswith("ffrtmp.x: job j1 done [job_id=j1 attempt=2]")
    data = json.loads(JsonFormatter().format(rec))
    assert data["job_id"] == "j1" and data["attempt"] == 2 and "node_id" not in data
    assert data["level"] == "info" and data["logger"] == "ffrtmp.x"
    assert data["message"] == "job j1 done" and data["time"].endswith("+00:00")


def test_json_keeps_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    data = json.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in data["exc"]


def test_bound_fields_reach_records_of_their_task_only() -> None:
    f = logcontext.ContextFilter()

    async def job(n: int) -> list[object]:
        logcontext.bind(job_id=f"j{n}", attempt=n)
        await asyncio.sleep(0)
        rec = _record()
        f.filter(rec)
        return [getattr(rec, "job_id", None), getattr(rec, "attempt", None)]

    async def main() -> list[list[object]]:
        return list(await asyncio.gather(job(1), job(2)))

    assert asyncio.run(main()) == [["j1", 1], ["j2", 2]]
    rec = _record(job_id="explicit")
    with logcontext.bound(job_id="bound"):
        f.filter(rec)
    assert rec.job_id == "explicit"  # extra= wins
    plain = _record()
    f.filter(plain)
    assert not hasattr(plain, "job_id")


@pytest.mark.parametrize(
    ("text", "bps"),
    [("1234.5kbits/s", 1_234_500.0), ("2.5mbits/s", 2_500_000.0), ("800bits/s", 800.0)],
)
def test_ffmpeg_bitrate_is_read_in_bits_per_second(text: str, bps: float) -> None:
    assert stats_bitrate_bps(text) == pytest.approx(bps)


@pytest.mark.parametrize("text", ["N/A", "", "fast"])
def test_unknown_bitrate_is_none(text: str) -> None:
    assert stats_bitrate_bps(text) is None


def _db(path: Path, jobs: list[tuple[str, JobState, int]]) -> sqlite3.Connection:
    sqlite_file.prepare(path)
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    for job_id, state, updated_ms in jobs:
        conn.execute(
            "INSERT INTO jobs(id, spec, queue, priority, state, created_ms, updated_ms)"
            " VALUES (?, ?, 'default', 'medium', ?, 0, ?)",
            (job_id, "x" * 2000, int(state), updated_ms),
        )
        conn.execute(
            "INSERT INTO job_events(job_id, at_ms, to_state) VALUES (?, 0, ?)", (job_id, int(state))
        )
    return conn


def test_retention_deletes_old_terminal_jobs_in_batches(tmp_path: Path) -> None:
    old = [(f"old{i}", JobState.SUCCEEDED, 1_000) for i in range(7)]
    keep = [
        ("new", JobState.FAILED, 9_000),
        ("queued", JobState.QUEUED, 1_000),
        ("running", JobState.RUNNING, 1_000),
    ]
    conn = _db(tmp_path / "r.db", old + keep)
    op = delete_batch(cutoff_ms=5_000, limit=3)
    assert [op(conn), op(conn), op(conn), op(conn)] == [3, 3, 1, 0]
    left = {r[0] for r in conn.execute("SELECT id FROM jobs")}
    assert left == {"new", "queued", "running"}
    assert {r[0] for r in conn.execute("SELECT DISTINCT job_id FROM job_events")} == left


def test_new_database_vacuums_incrementally(tmp_path: Path) -> None:
    conn = _db(tmp_path / "v.db", [(f"j{i}", JobState.CANCELED, 0) for i in range(500)])
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == sqlite_file.INCREMENTAL
    assert delete_batch(cutoff_ms=1, limit=1000)(conn) == 500
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    assert free > 0
    conn.execute("BEGIN IMMEDIATE")  # as the store's writer runs it: inside a transaction
    assert sqlite_file.incremental_vacuum(conn, 5) == 5
    assert sqlite_file.incremental_vacuum(conn, 10_000) == free - 5
    conn.execute("COMMIT")
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_backup_is_a_checked_self_contained_copy(tmp_path: Path) -> None:
    conn = _db(tmp_path / "live.db", [("a", JobState.QUEUED, 0), ("b", JobState.SUCCEEDED, 0)])
    conn.execute("PRAGMA journal_mode=WAL")
    to = tmp_path / "b" / "copy.db"
    assert backup(tmp_path / "live.db", to) == 2  # while `conn` holds the database open
    copy = sqlite3.connect(to)
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert {r[0] for r in copy.execute("SELECT id FROM jobs")} == {"a", "b"}
    assert not list(to.parent.glob(".*partial"))
