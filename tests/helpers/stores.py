"""Every JobStore implementation, for the conformance tests: adding a store
(PostgreSQL next) is one entry here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ffrtmp.master.storage.protocol import JobStore
from ffrtmp.master.storage.sqlite.store import SqliteStore
from tests.helpers.memstore import MemoryStore

# name -> a fresh, unopened store whose files (if any) live under the given directory
STORES: dict[str, Callable[[Path], JobStore]] = {
    "sqlite": lambda root: SqliteStore(root / "conformance.db"),
    "memory": lambda root: MemoryStore(),
}
