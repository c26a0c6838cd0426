"""One place that turns the `--db` value into a store."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ffrtmp.master.storage.protocol import JobStore
from ffrtmp.master.storage.sqlite.store import SqliteStore

_POSTGRES = ("postgres://", "postgresql://")


def make_store(db: str | Path, *, synchronous: str = "FULL") -> JobStore:
    """A store for `db`, not yet opened: `postgresql://` or `postgres://` is
    PostgreSQL, a file path or `sqlite:PATH` is SQLite. Raises ValueError naming
    what is wrong with the value."""
    text = str(db)
    if text.startswith(_POSTGRES):
        # Imported here: a SQLite master never loads the PostgreSQL driver.
        from ffrtmp.master.storage.postgres.store import PgStore

        try:
            urlsplit(text).port  # noqa: B018 - parsing is the check
        except ValueError as exc:
            raise ValueError(f"--db {redact(text)!r}: {exc}") from None
        return PgStore(text)
    if text.startswith("sqlite:"):
        text = text.removeprefix("sqlite:").removeprefix("//")
    elif "://" in text:
        raise ValueError(
            f"--db {redact(text)!r}: unknown store; give a SQLite file path or a postgresql:// URL"
        )
    if not text:
        raise ValueError("--db: a SQLite file path is required")
    return SqliteStore(Path(text), synchronous=synchronous)


def redact(url: str) -> str:
    """`url` without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("@")[-1]
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
