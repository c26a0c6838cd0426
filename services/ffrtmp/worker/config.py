"""The worker's configuration, built once at the edge from flags and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ffrtmp.worker.environment import DEFAULT_MIN_FREE_BYTES
from ffrtmp.worker.runner import FFMPEG_NICE

DEFAULT_CACHE_BYTES = 20 << 30


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    master: str = "localhost:50051"
    ca: Path = Path("certs/ca.crt")
    cert: Path = Path("certs/worker.crt")
    key: Path = Path("certs/worker.key")
    slots: int = 1
    labels: dict[str, str] = field(default_factory=dict)
    ffmpeg: str | None = None
    input_root: Path = Path("ffrtmp-input")  # never "." by default: it may hold the key
    output_root: Path = Path("ffrtmp-output")
    rtmp_base: str = "rtmp://localhost:1935/live"
    metrics_port: int = 9091
    metrics_host: str = "0.0.0.0"
    reconnect_max_s: float = 10.0
    cancel_grace_s: float = 3.0
    # Jobs writing under output_root are refused (transiently) below this much free.
    min_free_disk_bytes: int = DEFAULT_MIN_FREE_BYTES
    ffmpeg_nice: int = FFMPEG_NICE  # for jobs that set no nice level of their own
    allow_raw_args: bool = False  # run jobs that carry raw ffmpeg arguments
    input_cache: Path = Path("ffrtmp-cache")  # blob inputs, emptied at start
    input_cache_bytes: int = DEFAULT_CACHE_BYTES
    store_outputs: bool = True  # upload file and HLS outputs as the job's artifacts
