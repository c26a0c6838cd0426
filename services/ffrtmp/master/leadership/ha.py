"""A master's part in an election: the elector, the role transitions and the
lease backend, put together, plus what `ffrtmp cluster status` shows. A master
on SQLite has none of this: it is the only master, always leader (`Single`)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ffrtmp.core.election import LeaseTiming
from ffrtmp.core.errors import Unavailable
from ffrtmp.lifecycle import Supervisor
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.leadership.backend import LeaseBackend, MasterInfo
from ffrtmp.master.leadership.elector import Elector
from ffrtmp.master.leadership.roles import Roles
from ffrtmp.master.leadership.transitions import LeaderWork
from ffrtmp.master.observe.leader_metrics import LeaderMetrics

_POSTGRES = ("postgres://", "postgresql://")


def elected(db: object) -> bool:
    """Whether masters on this database elect a leader (PostgreSQL) or not (SQLite)."""
    return str(db).startswith(_POSTGRES)


def session_limits(db: str, lease_s: float) -> str:
    """The database URL with a bound on how long a session may sit in an open
    transaction: a master frozen mid-transaction (SIGSTOP, swap) would otherwise
    hold its row locks, the lease row's among them, and no other master could
    take over until it woke. The server ends such a transaction after half a
    lease; a URL that sets the bound itself keeps its own."""
    if "idle_in_transaction_session_timeout=" in db:
        return db
    ms = max(1000, round(lease_s * 500))
    return f"{db}{'&' if '?' in db else '?'}idle_in_transaction_session_timeout={ms}"


def advertised(config: MasterConfig, port: int) -> str:
    """The address this master tells clients and workers to use when it leads."""
    if config.advertise:
        return config.advertise
    host = config.listen.rpartition(":")[0].strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    return f"{host}:{port}"


def elect(
    config: MasterConfig, store: object, address: str, metrics: LeaderMetrics, work: LeaderWork
) -> Leadership:
    """The election of a master on PostgreSQL, its transitions run by `work`."""
    from ffrtmp.master.leadership.pglease import PgLeaseBackend  # loads the driver

    leadership = Leadership(
        config, PgLeaseBackend(str(config.db)), address, metrics,
        gain=work.gain, lose=work.lose, fence=fencer(store),
    )
    work.resign = leadership.resign
    return leadership


def fencer(store: object) -> Callable[[int | None], None]:
    """Sets the term every write of `store` is fenced by (None refuses writes)."""

    def fence(term: int | None) -> None:
        setattr(store, "fence_term", term)  # noqa: B010 - not in the JobStore protocol

    return fence


@dataclass(frozen=True, slots=True)
class Status:
    mode: str
    me: str
    leader_id: str = ""
    leader_address: str = ""
    term: int = 0
    since_s: float = 0.0
    remaining_s: float = 0.0
    masters: list[MasterInfo] = field(default_factory=list)


class Single:
    """One master on SQLite: always the leader, at term 0, with nothing to elect."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.started = time.time()

    def leading(self) -> bool:
        return True

    def leader_address(self) -> str:
        return self.address

    async def status(self) -> Status:
        me = MasterInfo(self.address, self.address, self.started, 0.0)
        return Status("sqlite", self.address, self.address, self.address, 0, self.started, 0.0,
                      [me])


class Leadership:
    def __init__(
        self,
        config: MasterConfig,
        backend: LeaseBackend,
        address: str,
        metrics: LeaderMetrics,
        *,
        gain: Callable[[int], Awaitable[None]],
        lose: Callable[[str], Awaitable[None]],
        fence: Callable[[int | None], None],
    ) -> None:
        self.address = address
        self.id = f"{address}#{secrets.token_hex(3)}"  # a restarted master is a new holder
        self.backend = backend
        self.roles = Roles(gain=gain, lose=lose, fence=fence)
        self.elector = Elector(
            backend,
            holder=self.id,
            address=address,
            timing=LeaseTiming(config.lease_s, config.lease_renew_s),
            metrics=metrics,
            on_gain=self.roles.on_gain,
            on_loss=self.roles.on_loss,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def leading(self) -> bool:
        return self.roles.serving

    def resign(self, reason: str) -> None:
        self.elector.resign(reason)

    def leader_address(self) -> str:
        return self.address if self.roles.serving else self.elector.leader_address

    def start(self, tasks: Supervisor) -> None:
        self._tasks = [
            tasks.start(self.roles.run(), "roles"),
            tasks.start(self.elector.run(), "election"),
        ]

    async def stop(self) -> None:
        """Before the store closes: stop campaigning and hand the lease over."""
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.elector.release()
        await self.backend.close()

    async def status(self) -> Status:
        try:
            async with asyncio.timeout(5.0):
                info = await self.backend.current()
                masters = await self.backend.masters()
        except Exception as exc:
            raise Unavailable(f"the database did not answer: {exc or type(exc).__name__}") from None
        if info is None or info.remaining_s <= 0:
            return Status("postgresql", self.id, masters=masters)
        return Status("postgresql", self.id, info.holder, info.address, info.term, info.since_s,
                      info.remaining_s, masters)
