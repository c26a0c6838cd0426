"""The worker's Prometheus metrics: its connection, its runs, and per running
job the encoder's fps, speed and output bitrate from ffmpeg's progress lines.
Per-job series are removed when the job ends, so the worker exports only what
runs now. docs/METRICS.md lists every metric."""

from __future__ import annotations

import contextlib
import re

from prometheus_client import CollectorRegistry, Counter, Gauge

from ffrtmp.core.model import ProgressInfo

_BITRATE = re.compile(r"^\s*([0-9.]+)\s*([kmg]?)bits/s\s*$", re.IGNORECASE)
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


def stats_bitrate_bps(text: str) -> float | None:
    """ffmpeg's "1234.5kbits/s" in bits per second; None for "N/A" or nothing."""
    m = _BITRATE.match(text or "")
    if m is None:
        return None
    return float(m.group(1)) * _SCALE[m.group(2).lower()]


class WorkerMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.running = Gauge("ffrtmp_worker_jobs_running", "ffmpeg runs in progress", registry=r)
        self.connected = Gauge(
            "ffrtmp_worker_connected", "1 while the master stream is up", registry=r
        )
        self.draining = Gauge(
            "ffrtmp_worker_draining", "1 while the worker finishes its runs to stop", registry=r
        )
        self.fenced = Counter(
            "ffrtmp_worker_runs_fenced",
            "Runs stopped, or not started, because contact with the master was not fresh",
            registry=r,
        )
        self.fps = Gauge(
            "ffrtmp_worker_job_fps", "Frames per second ffmpeg encodes", ["job_id"], registry=r
        )
        self.speed = Gauge(
            "ffrtmp_worker_job_speed",
            "ffmpeg speed as a multiple of real time",
            ["job_id"],
            registry=r,
        )
        self.bitrate = Gauge(
            "ffrtmp_worker_job_bitrate_bps",
            "Output bitrate so far, in bits per second",
            ["job_id"],
            registry=r,
        )

    def progress(self, job_id: str, p: ProgressInfo) -> None:
        self.fps.labels(job_id).set(p.fps)
        self.speed.labels(job_id).set(p.speed)
        bps = stats_bitrate_bps(p.bitrate)
        if bps is not None:
            self.bitrate.labels(job_id).set(bps)

    def job_ended(self, job_id: str) -> None:
        for g in (self.fps, self.speed, self.bitrate):
            with contextlib.suppress(KeyError):  # never reported progress
                g.remove(job_id)
