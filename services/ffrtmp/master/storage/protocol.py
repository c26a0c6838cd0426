"""What the master keeps durably, as one interface: `JobStore`.

The scheduler, the servicers, health and retention see only this. A store
(SQLite in `storage/sqlite/`; PostgreSQL next) implements every method with
these types and nothing of its database in a signature. Writes go through few
methods — `insert_job`, `apply` (the compare-and-set every state change is),
the node, key and audit writes, `delete_finished` — so a store that must check
a leadership term on every write has few places to do it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any, Protocol

from ffrtmp.core.model import Job, JobEvent, JobState

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The database refused or failed an operation (busy, disk full, connection
    lost); trying again later may work."""


class NotLeader(StoreError):
    """A write was refused: this master's leader term is not the database's (it
    was deposed, or never led). Clients should go to the leader."""


class StoreClosed(RuntimeError):
    """The store was closed: the master is stopping."""


@dataclass(frozen=True, slots=True)
class Change:
    """A state change, applied only if the job is in one of `expect_states` (and,
    when given, at `expect_attempt`): a compare-and-set on (state, attempt)."""

    job_id: str
    expect_states: frozenset[JobState]
    to_state: JobState
    reason: str
    at_ms: int
    expect_attempt: int | None = None
    node_id: str | None = None
    attempt: int | None = None
    fields: tuple[tuple[str, Any], ...] = ()


# The job fields a change may set besides state, node and attempt.
SETTABLE = frozenset(
    {
        "exit_code",
        "error",
        "failure_reason",
        "log_tail",
        "output",
        "output_bytes",
        "output_info",  # OutputInfo as JSON
        "progress",  # ProgressInfo as JSON
        "not_before_ms",
        "retry_base",
        "lost_attempts",
    }
)


@dataclass(frozen=True, slots=True)
class Before:
    """A job as a change found it: what observers of transitions need."""

    job_id: str
    queue: str
    state: JobState
    since_ms: int  # when the job entered `state`
    node_id: str
    attempt: int


# (job as it was, state it went to, when, node, attempt): called after each commit.
Observer = Callable[[Before, JobState, int, str, int], None]


def notify(observers: Iterable[Observer], ch: Change, before: Before) -> None:
    """Tell the observers of a committed change."""
    for observe in observers:
        try:
            observe(before, ch.to_state, ch.at_ms, ch.node_id or "", ch.attempt or 0)
        except Exception:  # observing must never fail a committed change
            log.exception("transition observer failed")


def changed(job: Job, ch: Change) -> None:
    """`job` as a committed change `ch` left it (what `insert_job` returns
    after its `assign`)."""
    job.state, job.updated_ms = ch.to_state, ch.at_ms
    if ch.node_id is not None:
        job.node_id = ch.node_id
    if ch.attempt is not None:
        job.attempt = ch.attempt

# A queued job as the scheduler's heap holds it (core.queue.Item): (rank of its
# class, i.e. the index of its (queue, priority) in core.priority.QUEUE_CLASSES,
# seq, id, created ms). A store returns its rows as they are: a restart reads
# millions, and these become heap items without another object per job.
QueuedItem = tuple[int, int, str, int]
# The queued jobs of one class and one needs set (`encode_needs` text), by seq.
QueuedRun = tuple[int, str, list[QueuedItem]]


def runs_of(rows: Iterable[tuple[int, str, int, str, int]]) -> list[QueuedRun]:
    """(rank, needs, seq, id, created ms) rows sorted by (rank, needs, seq), as runs."""
    runs: list[QueuedRun] = []
    for (rank, needs), group in groupby(rows, key=itemgetter(0, 1)):
        runs.append((rank, needs, [(r[0], r[2], r[3], r[4]) for r in group]))
    return runs


def encode_needs(tokens: frozenset[str]) -> str:
    return "\n".join(sorted(tokens))


def decode_needs(text: str) -> frozenset[str]:
    return frozenset(text.split("\n")) if text else frozenset()


@dataclass(frozen=True, slots=True)
class NodeRecord:
    node_id: str
    capabilities: dict[str, Any]
    address: str
    last_seen_ms: int
    drained: bool


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as stored: the secret only as its SHA-256."""

    id: str
    user: str
    role: str
    secret_sha256: bytes
    created_ms: int
    created_by: str
    revoked_ms: int = 0


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int  # increasing; pages continue below an id
    at_ms: int
    actor: str
    role: str
    action: str
    target: str
    detail: str


class JobStore(Protocol):
    # Hooks, called after commits: transitions, new jobs' ids, (writes, seconds).
    observers: list[Observer]
    inserted: list[Callable[[str], None]]
    on_commit: list[Callable[[int, float], None]]

    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def close(self) -> None:
        """Finish queued writes and disconnect; later calls raise StoreClosed."""

    async def ping(self) -> bool:
        """True when reads answer and a write transaction commits."""

    # -- jobs -------------------------------------------------------------
    async def insert_job(
        self,
        job: Job,
        event: JobEvent,
        more: Sequence[tuple[Job, JobEvent]] = (),
        assign: Change | None = None,
    ) -> tuple[Job, bool]:
        """Store a new job and its first event, or return the job already stored
        under its request_id (created False). Another owner's request_id raises
        AlreadyExists. Sets `seq` on the new job. `more`: further jobs (a group's
        children) stored in the same transaction, only when `job` is new.
        `assign`: a change of the new job (assign-on-submit), compare-and-set in
        the same transaction after the insert, its event written and observers
        told after the commit as for `apply`; the returned job then carries its
        state, node, attempt and updated_ms. Nothing is applied to a job found
        under its request_id."""

    async def apply(self, changes: Sequence[Change]) -> list[Before | None]:
        """Compare-and-set each change in one transaction: for each, the job as it
        was when the change applied (an event row written), or None."""

    async def get_job(self, job_id: str, *, with_events: bool = False) -> Job | None: ...

    async def get_jobs(self, ids: Sequence[str]) -> dict[str, Job]: ...

    async def children(self, parent_id: str) -> list[Job]:
        """The jobs whose parent_id is `parent_id`, oldest first."""

    async def events(self, job_id: str) -> list[JobEvent]:
        """The job's history, oldest first."""

    async def list_jobs(
        self,
        *,
        states: Iterable[JobState] = (),
        queue: str = "",
        node_id: str = "",
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first (by seq); `before_seq` continues a previous page."""

    async def jobs_in_states(self, states: Iterable[JobState]) -> list[Job]:
        """Every job in `states`, oldest first (start-up recovery)."""

    async def queued_keys(self) -> list[QueuedRun]:
        """Every QUEUED job, as runs of one class and needs set: the runs in rank
        order, each run's jobs in seq order, so that the jobs of one needs set,
        run after run, are sorted by (rank, seq): their heap's order without aging."""

    async def delete_finished(self, before_ms: int, limit: int) -> int:
        """Delete up to `limit` terminal jobs last changed before `before_ms`, and
        their events; returns how many. Raises StoreError on database trouble."""

    async def reclaim(self) -> int:
        """After deletes: give space back and refresh statistics as the database
        needs; returns pages (or a like unit) freed, 0 when nothing is to do."""

    # -- nodes ------------------------------------------------------------
    async def upsert_node(
        self, node_id: str, capabilities: dict[str, Any], address: str, now_ms: int
    ) -> None: ...

    async def set_drained(self, node_id: str, drained: bool, now_ms: int) -> None: ...

    async def known_nodes(self) -> list[NodeRecord]:
        """Every node ever seen, by id."""

    # -- API keys and audit ---------------------------------------------------
    async def add_api_key(self, key: ApiKey) -> None: ...

    async def revoke_api_key(self, key_id: str, now_ms: int) -> bool:
        """False when the key is unknown or already revoked."""

    async def api_keys(self) -> list[ApiKey]:
        """Every key, oldest first."""

    async def audit(
        self, at_ms: int, actor: str, role: str, action: str, target: str, detail: str
    ) -> None:
        """Append to the audit log (detail cut to 1024 characters)."""

    async def audit_events(self, before_id: int | None, limit: int) -> list[AuditEvent]:
        """Newest first; `before_id` continues a previous page."""
