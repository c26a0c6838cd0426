"""`ffrtmp-master backup --db PATH --to FILE`: a consistent copy of a live database.

SQLite's online backup API copies the database page by page from a read
transaction, so it is safe while the master writes (WAL lets the master commit
meanwhile; the copy is the state as of one moment). The copy is written beside
its destination, checked, switched to a self-contained rollback journal (no
-wal file to carry along) and renamed into place, so FILE is never half-written.

Restore: stop the master, copy FILE over its --db path (removing any -wal and
-shm files beside that path), start the master. The copy carries a mark saying
when it was taken; a master that starts on a marked file knows it was restored
(see scheduling/restore.py) and removes the mark."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path

from ffrtmp import flags
from ffrtmp.master.storage.sqlite.file import make_private

PAGES_PER_STEP = 1024  # ~4 MB: the master's writer is never held up for long
MARK = "restored_from_backup"  # a one-row table only backups carry


def take_restore_mark(db: Path) -> int | None:
    """When the backup that `db` was restored from was taken (unix ms), or None
    when `db` is not a restored backup. The mark is removed: it counts once."""
    if not db.is_file() or db.stat().st_size == 0:
        return None
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name=?", (MARK,)).fetchone() is None:
            return None
        row = conn.execute(f"SELECT taken_ms FROM {MARK}").fetchone()
        conn.execute(f"DROP TABLE {MARK}")
        return int(row[0]) if row else 0
    finally:
        conn.close()


def backup(db: Path, to: Path) -> int:
    """Copy `db` to `to`; returns the number of jobs in the copy."""
    if not db.is_file():
        raise FileNotFoundError(f"{db}: no such database")
    to.parent.mkdir(parents=True, exist_ok=True)
    tmp = to.with_name(f".{to.name}.partial")
    tmp.unlink(missing_ok=True)
    make_private(tmp)  # as private as the database it copies
    # Read-only: a backup must never create or change the live database.
    src = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        src.execute("PRAGMA busy_timeout=5000")
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst, pages=PAGES_PER_STEP, sleep=0.01)
            dst.execute("PRAGMA journal_mode=DELETE")
            dst.execute(f"CREATE TABLE {MARK}(taken_ms INTEGER NOT NULL)")
            dst.execute(f"INSERT INTO {MARK} VALUES (?)", (int(time.time() * 1000),))
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise RuntimeError(f"the copy failed its integrity check: {check}")
            jobs = int(dst.execute("SELECT count(*) FROM jobs").fetchone()[0])
        finally:
            dst.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, to)
    return jobs


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ffrtmp-master backup",
        description="Copy the master's SQLite database, safely while the master runs.",
    )
    flags.add(p, "--db", default=Path("ffrtmp.db"), type=Path, help="the master's database")
    p.add_argument("--to", required=True, type=Path, help="the backup file to write")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        jobs = backup(args.db, args.to)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        print(f"ffrtmp-master backup: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {args.db} to {args.to} ({jobs} jobs)")
    return 0
