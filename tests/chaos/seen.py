"""The harness's side of the watcher process: which encoders are alive now, when a
job last had one, and the watcher's summary at the end."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

from tests.helpers.procs import Proc


class Seen:
    def __init__(self, root: Path) -> None:
        self.rid_to_job: dict[str, str] = {}  # filled by the submitter
        self._alive: dict[int, dict[str, Any]] = {}
        self._last: dict[str, float] = {}  # job -> when its last encoder went
        self._lock = threading.Lock()
        self.summary: dict[str, Any] = {}
        self.proc = Proc.python("tests.chaos.watch", [str(root)], root / "watch.log")
        self.proc.wait_for('"e": "ready"', 60)
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        n = 0
        while True:
            done = self.proc.done  # read before the lines: none can follow it then
            lines = self.proc.lines_after(n)
            n += len(lines)
            for line in lines:
                self._event(line)
            if done and not lines:
                return

    def _event(self, line: str) -> None:
        try:
            ev = json.loads(line)
        except ValueError:
            return
        with self._lock:
            if ev["e"] == "enc":
                self._alive[ev["pid"]] = ev
            elif ev["e"] == "gone":
                self._alive.pop(ev["pid"], None)
                self._last[ev["job"]] = ev["t"]
            elif ev["e"] == "summary":
                self.summary = ev

    def _job(self, key: str) -> str:
        return self.rid_to_job.get(key, key)

    def last_seen(self, job: str) -> float | None:
        """Now if an encoder of `job` is alive, else when its last one went."""
        with self._lock:
            if any(self._job(e["job"]) == job for e in self._alive.values()):
                return time.monotonic()
            found = [t for k, t in self._last.items() if self._job(k) == job]
        return max(found, default=None)

    def alive(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._alive.values())

    def stop(self) -> dict[str, Any]:
        if self.proc.popen.poll() is None:
            self.proc.signal(signal.SIGTERM)
            self.proc.popen.wait(10)
        self._thread.join(10)
        self.proc.stop()
        return self.summary
