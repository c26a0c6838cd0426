"""One place that turns the `--db` value into a store."""

from __future__ import annotations

from pathlib import Path

from ffrtmp.master.storage.protocol import JobStore
from ffrtmp.master.storage.sqlite.store import SqliteStore

_POSTGRES = ("postgres://", "postgresql://")


def make_store(db: str | Path, *, synchronous: str = "FULL") -> JobStore:
    """A store for `db`, not yet opened: a file path or `sqlite:PATH` is SQLite.
    Raises ValueError naming what is wrong with the value."""
    text = str(db)
    if text.startswith(_POSTGRES):
        raise ValueError(f"--db {text.split('@')[-1]!r}: PostgreSQL stores are not built yet")
    if text.startswith("sqlite:"):
        text = text.removeprefix("sqlite:").removeprefix("//")
    elif "://" in text:
        raise ValueError(f"--db {text!r}: unknown store; give a SQLite file path")
    if not text:
        raise ValueError("--db: a SQLite file path is required")
    return SqliteStore(Path(text), synchronous=synchronous)
