"""The verdict of a chaos run, read from the master's public API, the /proc watcher,
the stop records and the daemons' outputs once everything has healed and settled."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffrtmp.v1 import common_pb2
from tests.chaos.cluster import StopRecord
from tests.chaos.stranded import Stranding

TERMINAL = {common_pb2.JOB_STATE_SUCCEEDED, common_pb2.JOB_STATE_FAILED,
            common_pb2.JOB_STATE_CANCELED}  # fmt: skip
# A run fails on any of these; each is a broken promise, not a slow one.
STRICT = ("lost", "overlaps", "stranded", "duplicates", "completed_twice", "stop_overruns",
          "failed", "leftover_encoders", "start_failures")  # fmt: skip
# Lines in the daemons' logs that the fault-tolerance issue names as defects of their own.
NOISE = {"unknown_child_pid": "Unknown child process pid",
         "internal_error": "Internal error from Core",
         "traceback": "Traceback (most recent call last)"}  # fmt: skip


def infra_field(job: common_pb2.Job) -> str | None:
    """The Job field counting attempts lost to the infrastructure (which `attempt`
    counts too), if this build has one: `lost_attempts` or an `infra…attempts`."""
    for name in job.DESCRIPTOR.fields_by_name:
        if "attempt" in name and ("infra" in name or name.startswith("lost")):
            return name
    return None


@dataclass
class Report:
    seed: int
    duration_s: float
    figures: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    crashed: bool = False  # the harness failed: the figures are incomplete

    def failures(self) -> list[str]:
        return [k for k in STRICT if self.figures.get(k)]

    def jobs(self, acked: dict[str, str], jobs: list[common_pb2.Job],
             full: dict[str, common_pb2.Job]) -> None:  # fmt: skip
        """`jobs`: everything ListJobs returns; `full`: GetJob of every acked job."""
        f, d = self.figures, self.details
        by_id = {j.id: j for j in jobs}
        lost = [(rid, jid, "missing" if jid not in by_id else
                 common_pb2.JobState.Name(by_id[jid].state))
                for rid, jid in acked.items()
                if jid not in by_id or by_id[jid].state not in TERMINAL]  # fmt: skip
        per_rid = Counter(j.request_id for j in jobs if j.request_id)
        dups = {rid: n for rid, n in per_rid.items() if n > 1}
        twice = [j.id for j in full.values()
                 if [e.to_state for e in j.events].count(common_pb2.JOB_STATE_SUCCEEDED) > 1]
        failed = [(j.id, common_pb2.JobState.Name(j.state), j.error or j.failure_reason)
                  for j in full.values()
                  if j.state in TERMINAL and j.state != common_pb2.JOB_STATE_SUCCEEDED]
        attempts = sum(j.attempt for j in full.values())
        infra = infra_field(next(iter(full.values()))) if full else None
        f.update(jobs=len(acked), jobs_listed=len(jobs), lost=len(lost),
                 duplicates=len(dups), completed_twice=len(twice), failed=len(failed),
                 succeeded=sum(j.state == common_pb2.JOB_STATE_SUCCEEDED for j in full.values()),
                 attempts=attempts,
                 jobs_retried=sum(j.attempt > 1 for j in full.values()))  # fmt: skip
        if infra is not None:
            charged = sum(getattr(j, infra) for j in full.values())
            f.update(attempts_infrastructure=charged, attempts_job=attempts - charged)
        else:
            f["attempts_infrastructure"] = "n/a (no such Job field in this build)"
        d.update(lost=lost, duplicates=dups, completed_twice=twice, failed=failed[:50])

    def watcher(self, summary: dict[str, Any], leftovers: list[dict[str, Any]]) -> None:
        every = summary.get("episodes", [])
        eps = [e for e in every if not e.get("after_freeze")]
        thaws = [e for e in every if e.get("after_freeze")]
        self.figures.update(
            overlaps=len(eps), overlap_jobs=len({e["job"] for e in eps}),
            overlap_longest_s=max((e["seconds"] for e in eps), default=0.0),
            thaw_overlaps=len(thaws),
            thaw_overlap_longest_s=max((e["seconds"] for e in thaws), default=0.0),
            leftover_encoders=len(leftovers), watcher_samples=summary.get("samples", 0),
            watcher_jobs_seen=summary.get("jobs_seen", 0),
            watcher_longest_gap_s=summary.get("max_gap_s", 0.0),
        )  # fmt: skip
        self.details.update(overlaps=eps, thaw_overlaps=thaws, leftovers=leftovers)

    def stranded(self, found: list[Stranding], polls: int) -> None:
        self.figures.update(stranded=len(found), tracker_polls=polls,
                            stranded_longest_s=max((s.seconds for s in found), default=0.0))
        self.details["stranded"] = [vars(s) for s in found]

    def stops(self, records: list[StopRecord], finals: list[StopRecord]) -> None:
        """Every SIGTERM of the run; `finals` the last one, to everything at once."""
        def longest(master: bool) -> float:
            return max((r.seconds for r in records if (r.who == "master") == master),
                       default=0.0)  # fmt: skip

        self.figures.update(stop_signals=len(records),
                            stop_overruns=sum(r.overrun for r in records),
                            stop_longest_master_s=longest(True),
                            stop_longest_worker_s=longest(False))  # fmt: skip
        self.details.update(stops=[{**vars(r), "overrun": r.overrun} for r in records],
                            final_stop=[vars(r) for r in finals])  # fmt: skip

    def outputs(self, root: Path, full: dict[str, common_pb2.Job]) -> None:
        """Each success's file on the node that reported it, of the size it reported."""
        missing = []
        for j in full.values():
            if j.state == common_pb2.JOB_STATE_SUCCEEDED:
                path = root / f"out-{j.node_id}" / j.owner / j.spec.output
                if not path.is_file() or path.stat().st_size != j.output_bytes:
                    missing.append((j.id, str(path)))
        self.figures["outputs_missing"] = len(missing)
        self.figures["partials_left"] = len(list(root.glob("out-*/**/.*partial*")))
        self.details["outputs_missing"] = missing[:50]

    def noise(self, root: Path) -> None:
        text = "".join(p.read_text(errors="replace") for p in sorted(root.glob("*.log")))
        for key, needle in NOISE.items():
            self.figures[f"log_{key}"] = text.count(needle)

    def print_table(self) -> None:
        print(f"\nchaos seed={self.seed} duration={self.duration_s:.0f}s")
        for key, value in self.figures.items():
            mark = "  <-- FAIL" if key in STRICT and value else ""
            shown = f"{value:.2f}" if isinstance(value, float) else str(value)
            print(f"  {key:<28} {shown:>14}{mark}")
        bad = self.failures()
        verdict = "FAIL " + ", ".join(bad) if bad else "PASS"
        if self.crashed or self.figures.get("harness_errors"):
            verdict = "HARNESS ERROR (figures incomplete)" + (f"; {verdict}" if bad else "")
        print(f"verdict: {verdict}", flush=True)

    def write(self, path: Path) -> None:
        out = {"seed": self.seed, "duration_s": self.duration_s, "figures": self.figures,
               "failures": self.failures(), "crashed": self.crashed,
               "details": self.details}  # fmt: skip
        path.write_text(json.dumps(out, indent=2, default=str) + "\n")
