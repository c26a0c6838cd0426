"""`--db` to a store: the one place that names store implementations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ffrtmp.master.storage.factory import make_store, redact
from ffrtmp.master.storage.postgres.store import PgStore
from ffrtmp.master.storage.sqlite.store import SqliteStore


@pytest.mark.parametrize(
    ("db", "path"),
    [("jobs.db", "jobs.db"), ("sqlite:jobs.db", "jobs.db"), ("sqlite:///var/x.db", "/var/x.db")],
)
def test_paths_and_sqlite_urls_are_sqlite(db: str, path: str) -> None:
    store = make_store(db)
    assert isinstance(store, SqliteStore) and store.path == Path(path)


@pytest.mark.parametrize(
    "db", ["postgresql://user:secret@db.example/ffrtmp", "postgres://db.example:5433/ffrtmp"]
)
def test_postgres_urls_are_postgres(db: str) -> None:
    store = make_store(db)
    assert isinstance(store, PgStore) and store.dsn == db


def test_passwords_are_redacted() -> None:
    assert redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("db", "says"),
    [
        ("postgresql://user:secret@db.example:port/ffrtmp", "Port could not be cast"),
        ("mysql://user:secret@db/x", "unknown store"),
        ("sqlite:", "a SQLite file path is required"),
    ],
)
def test_other_values_are_refused_by_name(db: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as info:
        make_store(db)
    assert "secret" not in str(info.value)


def test_the_master_refuses_an_unknown_store_without_a_traceback(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "ffrtmp.master.main", "--db", "mysql://db.example/ffrtmp",
         "--metrics-port", "-1", "--listen", "127.0.0.1:0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2
    assert "unknown store" in r.stderr and "Traceback" not in r.stderr

