"""What the election needs of the database, as an interface: the lease row and
the table of masters. The PostgreSQL store implements the SQL; `pglease.py`
adapts it onto a connection of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """The lease row as the database sees it now."""

    holder: str
    address: str  # what clients and workers are told to use
    term: int
    since_s: float  # Unix seconds, by the database's clock
    remaining_s: float  # until it expires, by the database's clock (≤ 0: expired)


@dataclass(frozen=True, slots=True)
class MasterInfo:
    master_id: str
    address: str
    started_s: float  # Unix seconds, by the database's clock
    seen_ago_s: float  # since its last heartbeat, by the database's clock


class LeaseBackend(Protocol):
    """Each call is one short transaction; errors (connection lost, timeouts)
    raise, and the elector treats them as "not renewed"."""

    async def acquire(self, holder: str, address: str, lease_s: float) -> int | None:
        """The new term if the row was absent or expired (then it is ours), else None."""
        ...

    async def renew(self, holder: str, term: int, lease_s: float) -> bool:
        """False if the row is no longer ours at this term."""
        ...

    async def release(self, holder: str, term: int) -> None: ...

    async def current(self) -> LeaderInfo | None: ...

    async def heartbeat(self, master_id: str, address: str) -> None: ...

    async def masters(self) -> list[MasterInfo]: ...

    async def close(self) -> None: ...
