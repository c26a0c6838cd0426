"""The fault schedule: drawn from a seed before the run starts and printed, so a run
can be repeated (the schedule, not the exact interleaving with the jobs)."""

from __future__ import annotations

import random
from dataclasses import dataclass

WORKERS = ("w1", "w2", "w3")

# kind -> what it does (the table printed with the plan and in the docs)
KINDS: dict[str, str] = {
    "worker_kill": "SIGKILL a worker daemon (its ffmpeg dies with it), restart it",
    "worker_stall": "SIGSTOP the worker daemon alone (its ffmpeg runs on), then SIGCONT",
    "worker_freeze": "SIGSTOP the daemon and every process under it (a frozen host)",
    "master_kill": "SIGKILL the master during a burst of submits, restart on the same DB",
    "partition_hold": "the worker's link holds every byte, then delivers them",
    "partition_reset": "the worker's link resets every connection, new ones too",
    "worker_term": "SIGTERM a worker (must exit within its grace + 2 s), restart it",
    "master_term": "SIGTERM the master (must exit within its grace + 2 s), restart it",
    "cluster_term": "SIGTERM the master and every worker at once (a host shutdown), restart",
}
TARGETED = {"worker_kill", "worker_stall", "worker_freeze", "partition_hold",
            "partition_reset", "worker_term"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Fault:
    index: int
    kind: str
    worker: str  # "" for faults of the master
    hold_s: float  # how long the fault lasts (stall, partition, down time)
    gap_s: float  # quiet time before it
    burst: int = 0  # master_kill: submits in the burst
    kill_after: int = 0  # master_kill: the ack after which the master dies

    def describe(self) -> str:
        who = self.worker or "master"
        extra = f" burst={self.burst} kill_after_ack={self.kill_after}" if self.burst else ""
        return (
            f"#{self.index:02d} +{self.gap_s:.1f}s {self.kind:<15} {who:<6} "
            f"hold={self.hold_s:.1f}s{extra}"
        )


def _hold(kind: str, rng: random.Random, timeout: float) -> float:
    if kind in ("worker_stall", "worker_freeze", "partition_hold"):
        # From a short stall the worker survives (0.6x) to one it is declared lost
        # for (up to 2.7x): both sides of the heartbeat timeout.
        return round(rng.uniform(0.6, 2.7) * timeout, 1)
    if kind == "partition_reset":
        return round(rng.uniform(0.3, 2.0) * timeout, 1)
    return round(rng.uniform(0.2, 1.0), 1)  # down time before a restart


def _cost(f: Fault) -> float:
    """Rough wall time of one fault, to fit the schedule to the run's duration."""
    return f.gap_s + f.hold_s + (4.0 if f.kind.endswith(("_term", "_kill")) else 1.0)


def make_plan(seed: int, duration_s: float, timeout_s: float) -> list[Fault]:
    """Every kind once in a seeded order (however short the run), then seeded draws
    until `duration_s` is filled."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    rng.shuffle(kinds)
    plan: list[Fault] = []
    used = 0.0
    while True:
        kind = kinds.pop(0) if kinds else rng.choice(list(KINDS))
        burst = rng.randint(10, 20) if kind == "master_kill" else 0
        f = Fault(
            index=len(plan) + 1,
            kind=kind,
            worker=rng.choice(WORKERS) if kind in TARGETED else "",
            hold_s=_hold(kind, rng, timeout_s),
            gap_s=round(rng.uniform(1.0, 3.0), 1),
            burst=burst,
            kill_after=rng.randint(1, burst - 1) if burst else 0,
        )
        if len(plan) >= len(KINDS) and used + _cost(f) > duration_s:
            return plan
        plan.append(f)
        used += _cost(f)
