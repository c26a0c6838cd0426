"""An ffmpeg watcher that trusts nothing the daemons say: every 50 ms it reads /proc,
finds the encoders writing this run's outputs, attributes each to (job, worker,
attempt) from its argv, and records every moment a job had encoders of two different
workers or attempts running at once. It runs as a process of its own
(`python -m tests.chaos.watch ROOT`), so the harness's threads cannot delay it; it
prints one JSON line per encoder that appears or goes, and a summary on SIGTERM.

A worker writes under `--output-root` (out-<worker>/ here) to a partial name that
holds the lease, `.<stem>.<job id>-<attempt>.partial.<ext>`; the stem is the request
id the run chose. A process in state T (stopped) or Z is present but not running.
A process reading a final output (the worker's probe of it) is present, not a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PERIOD_S = 0.05
# An encoder seen stopped this recently is thawing (see Episode.after_freeze).
THAW_S = 1.0
# Outputs lie in their owner's folder under the worker's root: out-<worker>/<owner>/chaos/.
_OUT = r"/out-(?P<worker>[^/]+)/(?:[^/]+/)?chaos/"
_PARTIAL = re.compile(
    rf"{_OUT}\.(?P<rid>[^/.]+)\.(?P<job>[^/]+?)-(?P<attempt>\d+)\.partial"
)
# Should the partial name ever lose the lease: the request id names the job, the pid the run.
_ANY_PARTIAL = re.compile(rf"{_OUT}\.(?P<rid>[^/.]+)\.[^/]*partial")
# The worker's probe of a finished output reads the final name: an ffmpeg of the job
# (it counts as the job's presence), never a second run of it.
_FINAL = re.compile(rf"{_OUT}(?P<rid>[^/.]+)\.mp4")
PROBE = -2  # the attempt of a probe
_STABLE_S = 2.0  # a process this old has exec'd for good: its argv is final
_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Episode:
    job: str
    keys: set[tuple[str, int]]  # (worker, attempt) seen running together
    start: float
    last: float
    samples: int = 1
    # One side had just thawed from a stop of its whole tree (a frozen host): the window
    # the promise concedes, until the launcher's deadline check kills it.
    after_freeze: bool = False

    @property
    def seconds(self) -> float:
        return self.last - self.start


@dataclass
class Encoder:
    pid: int
    job: str  # the job id from the partial name, else the request id
    worker: str
    attempt: int  # -1 when the partial name holds none (then the pid tells runs apart)
    # PROBE: the job is the request id
    first: float


@dataclass
class Watcher:
    root: str  # only argv naming a path under this directory are this run's
    emit: Callable[[dict[str, Any]], None]
    episodes: list[Episode] = field(default_factory=list)
    encoders: dict[int, Encoder] = field(default_factory=dict)
    samples: int = 0
    max_gap_s: float = 0.0
    _last_scan: float = 0.0
    _open: dict[str, Episode] = field(default_factory=dict)
    _ignored: set[int] = field(default_factory=set)
    jobs_seen: set[str] = field(default_factory=set)  # jobs seen encoding (not probed)
    _stopped_at: dict[int, float] = field(default_factory=dict)  # pid -> last seen in T

    def scan(self, now: float) -> None:
        pids = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        self._ignored &= pids
        running: dict[str, set[tuple[str, int]]] = {}
        thawed: set[tuple[str, str, int]] = set()  # (job, worker, attempt) just resumed
        for pid in pids - self._ignored:
            enc = self.encoders.get(pid) or self._identify(pid, now)
            if enc is None:
                continue
            state = _state(pid)
            if state is None:
                continue  # gone since the listing
            if pid not in self.encoders:
                self.encoders[pid] = enc
                if enc.attempt != PROBE:
                    self.jobs_seen.add(enc.job)
                self.emit({"e": "enc", "t": now, **vars(enc)})
            if state in "Tt":
                self._stopped_at[pid] = now
            if state not in "TtZX" and enc.attempt != PROBE:
                key = (enc.worker, enc.attempt if enc.attempt >= 0 else -pid)
                running.setdefault(enc.job, set()).add(key)
                if now - self._stopped_at.get(pid, -THAW_S) < THAW_S:
                    thawed.add((enc.job, *key))
        for pid in [p for p in self.encoders if p not in pids or _state(p) is None]:
            enc = self.encoders.pop(pid)
            self._stopped_at.pop(pid, None)
            self.emit({"e": "gone", "t": now, "pid": pid, "job": enc.job})
        for job, keys in running.items():
            if len(keys) > 1:
                ep = self._open.get(job)
                if ep is None:
                    ep = self._open[job] = Episode(job, set(keys), now, now)
                    ep.after_freeze = any((job, *k) in thawed for k in keys)
                    self.emit({"e": "overlap", "t": now, "job": job, "keys": sorted(keys)})
                else:
                    ep.keys |= keys
                    ep.last = now
                    ep.samples += 1
        for job in [j for j in self._open if len(running.get(j, ())) < 2]:
            self.episodes.append(self._open.pop(job))
        if self._last_scan:
            self.max_gap_s = max(self.max_gap_s, now - self._last_scan)
        self._last_scan = now
        self.samples += 1

    def _identify(self, pid: int, now: float) -> Encoder | None:
        argv = _read(f"/proc/{pid}/cmdline")
        if argv is None:
            return None
        text = argv.replace(b"\0", b" ").decode(errors="replace")
        if self.root in text and (m := _PARTIAL.search(text)):
            return Encoder(pid, m["job"], m["worker"], int(m["attempt"]), now)
        if self.root in text and (m := _ANY_PARTIAL.search(text)):
            return Encoder(pid, m["rid"], m["worker"], -1, now)
        if self.root in text and (m := _FINAL.search(text)):
            return Encoder(pid, m["rid"], m["worker"], PROBE, now)
        if _age(pid) > _STABLE_S:
            self._ignored.add(pid)  # a fork that has not exec'd yet is read again
        return None

    def summary(self) -> dict[str, Any]:
        for job in list(self._open):
            self.episodes.append(self._open.pop(job))
        eps = [{"job": e.job, "keys": sorted(e.keys), "start": e.start, "seconds": e.seconds,
                "samples": e.samples, "after_freeze": e.after_freeze}
               for e in self.episodes]  # fmt: skip
        return {"e": "summary", "samples": self.samples, "max_gap_s": self.max_gap_s,
                "jobs_seen": len(self.jobs_seen),
                "episodes": eps, "alive": [vars(e) for e in self.encoders.values()]}  # fmt: skip


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _stat_fields(pid: int) -> list[str] | None:
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    # The command name may hold spaces and parentheses; the fields after the last ')' are fixed.
    return raw.decode(errors="replace").rsplit(")", 1)[1].split()


def _state(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _age(pid: int) -> float:
    fields = _stat_fields(pid)
    if not fields:
        return 0.0
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - int(fields[19]) / _CLK_TCK


def main() -> None:
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)

    def emit(event: dict[str, Any]) -> None:
        print(json.dumps(event), flush=True)

    # Ahead of the encoders it watches, where allowed: a busy machine stretches its period.
    with contextlib.suppress(OSError):
        os.nice(-10)
    w = Watcher(sys.argv[1], emit)
    emit({"e": "ready", "t": time.monotonic()})
    while not stop:
        t0 = time.monotonic()
        w.scan(t0)
        time.sleep(max(0.0, PERIOD_S - (time.monotonic() - t0)))
    emit(w.summary())


if __name__ == "__main__":
    main()
