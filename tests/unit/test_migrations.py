"""The SQLite store's schema migrations: whole scripts, run atomically."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ffrtmp.master.storage.sqlite.migrations import MIGRATIONS, migrate

# A trigger body and a string literal both hold semicolons: a migration must run
# them as SQL statements, not as text cut at every ';'.
WITH_SEMICOLONS = [
    """
    CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL DEFAULT 'a; b');
    CREATE TABLE changes (note INTEGER);
    CREATE TRIGGER noted AFTER INSERT ON notes BEGIN
        INSERT INTO changes(note) VALUES (new.id);
    END;
    """,
]


def _conn(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_statements_with_semicolons_inside_survive(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "m.db")
    assert migrate(conn, WITH_SEMICOLONS) == 1
    conn.execute("INSERT INTO notes(id) VALUES (7)")
    assert conn.execute("SELECT body FROM notes").fetchone()[0] == "a; b"
    assert conn.execute("SELECT note FROM changes").fetchall() == [(7,)]


def test_a_failing_migration_leaves_the_schema_as_it_was(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "m.db")
    broken = ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y INTEGER); CREATE TABLE a (z);"]
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, broken)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"a"}  # b went with its failed step
    assert not conn.in_transaction


def test_the_real_schema_migrates_and_is_idempotent(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "m.db")
    assert migrate(conn) == len(MIGRATIONS)
    assert migrate(conn) == len(MIGRATIONS)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "m.db")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        migrate(conn)
