"""Every JobStore implementation, for the conformance tests: adding a store is one
entry here. An entry makes a fresh, unopened store from the test's temporary
directory and its pytest request (for fixtures such as the PostgreSQL server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ffrtmp.master.storage.postgres.lease import lead
from ffrtmp.master.storage.postgres.store import PgStore
from ffrtmp.master.storage.protocol import JobStore
from ffrtmp.master.storage.sqlite.store import SqliteStore
from tests.helpers.memstore import MemoryStore


class LeadingPgStore(PgStore):
    """A PgStore that takes the leader lease when it opens, as a lone master would,
    so its writes pass the term fence."""

    async def open(self) -> None:
        await super().open()
        await lead(self, "conformance", "127.0.0.1:0", lease_s=300)


STORES: dict[str, Callable[[Path, pytest.FixtureRequest], JobStore]] = {
    "sqlite": lambda root, request: SqliteStore(root / "conformance.db"),
    "memory": lambda root, request: MemoryStore(),
    "postgres": lambda root, request: LeadingPgStore(request.getfixturevalue("pg_dsn")),
}
