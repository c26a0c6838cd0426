"""What the master knows of each worker: its capabilities, its leases and the
outbox of commands for its stream."""

from __future__ import annotations

from dataclasses import dataclass, field

from ffrtmp.core.model import JobSpec, Lease
from ffrtmp.master.scheduling.outbox import Outbox


@dataclass(frozen=True, slots=True)
class AssignCmd:
    lease: Lease
    spec: JobSpec
    trace_context: dict[str, str] = field(default_factory=dict)  # W3C traceparent
    seq: int = 0  # numbers the Assigns of one stream (see Heartbeat.assign_seq)
    # The job's own spec, which `spec` is made from by placing its output, input
    # and parts (dispatch.py): its proto is converted once and copied per Assign.
    base: JobSpec | None = None


@dataclass(frozen=True, slots=True)
class CancelCmd:
    lease: Lease
    reason: str


@dataclass(frozen=True, slots=True)
class AbortCmd:
    lease: Lease
    reason: str


@dataclass(frozen=True, slots=True)
class ResultAckCmd:
    lease: Lease


@dataclass(frozen=True, slots=True)
class HeartbeatAckCmd:
    seq: int


@dataclass(frozen=True, slots=True)
class DrainCmd:
    drain: bool


@dataclass(frozen=True, slots=True)
class PauseCmd:
    lease: Lease
    pause: bool  # False: resume


# Commands waiting for one worker's stream. A worker that does not read (or
# provokes more than it reads) has its stream ended, not the master's memory
# filled: it reconnects and its Hello reconciles the leases.
MAX_OUTBOX = 4096

Command = AssignCmd | CancelCmd | AbortCmd | ResultAckCmd | HeartbeatAckCmd | DrainCmd | PauseCmd


@dataclass(slots=True)
class NodeSession:
    node_id: str
    capabilities: dict[str, object]
    slots: int
    address: str = ""
    offers: frozenset[str] = frozenset()
    connected: bool = False
    draining: bool = False  # the worker is shutting down (it said so in a heartbeat)
    drained: bool = False  # an operator drained it (DrainNode); persisted
    connected_ms: int = 0
    last_seen: float = 0.0  # monotonic seconds
    last_seen_ms: int = 0
    acked_at: float = 0.0  # monotonic seconds of the last heartbeat answered (or Welcome)
    leases: dict[str, int] = field(default_factory=dict)  # job id -> attempt
    outbox: Outbox[Command | None] = field(default_factory=Outbox)
    generation: int = 0  # bumped on every (re)connect, to tell streams apart
    instance: str = ""  # the worker process behind the stream (Hello.instance)
    # It fenced or refused a run for want of fresh contact: it would refuse any
    # Assign too, until it hears an answer to a heartbeat sent after that.
    stale_contact: bool = False
    assigns_sent: int = 0  # on this stream
    assign_seq: dict[str, int] = field(default_factory=dict)  # job id -> its Assign's seq

    @property
    def accepting(self) -> bool:
        """Takes new jobs."""
        return (self.connected and not self.draining and not self.drained
                and not self.stale_contact)

    @property
    def free_slots(self) -> int:
        return self.slots - len(self.leases)

    def holds(self, lease: Lease) -> bool:
        return self.leases.get(lease.job_id) == lease.attempt

    def send(self, cmd: Command) -> None:
        q = self.outbox
        if q.qsize() < MAX_OUTBOX:
            q.put_nowait(cmd)
        elif q.qsize() == MAX_OUTBOX:
            q.put_nowait(None)  # full: end the stream (once; later sends are dropped)
