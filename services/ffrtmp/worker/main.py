"""`ffrtmp-worker`: flags and environment in, a connected worker out."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from ffrtmp import flags, logsetup, tracing
from ffrtmp.core import masters
from ffrtmp.core.sizes import parse_size
from ffrtmp.lifecycle import WATCHDOG_MARGIN_S, StopSignals, bounded, exit_now
from ffrtmp.worker.config import DEFAULT_CACHE_BYTES, WorkerConfig
from ffrtmp.worker.daemon import Worker
from ffrtmp.worker.environment import DEFAULT_MIN_FREE_BYTES
from ffrtmp.worker.ffmpeg import FfmpegNotFound
from ffrtmp.worker.paths import PathRefused, check_roots
from ffrtmp.worker.runner import FFMPEG_NICE

log = logging.getLogger("ffrtmp.worker")


def default_slots() -> int:
    # ffmpeg uses several threads per run: one run per two cores keeps a host responsive.
    return max(1, (os.cpu_count() or 1) // 2)


def _labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"label {item!r} is not KEY=VALUE")
        out[key] = value
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ffrtmp-worker",
        description="The ffrtmp worker daemon: runs the ffmpeg jobs the master assigns.",
    )
    f = flags.add
    f(p, "--master", default="localhost:50051",
      help="master address HOST:PORT; several masters: comma-separated (the leader is followed)")
    f(p, "--ca", default="certs/ca.crt", type=Path, help="CA certificate")
    f(
        p,
        "--cert",
        default="certs/worker.crt",
        type=Path,
        help="this worker's certificate; its common name is the node id",
    )
    f(p, "--key", default="certs/worker.key", type=Path, help="this worker's private key")
    f(p, "--slots", default=default_slots(), type=int, help="jobs run at once")
    f(p, "--labels", default={}, type=_labels, help="KEY=VALUE,... offered to the scheduler")
    f(p, "--ffmpeg", default=None, help="ffmpeg binary (default: system ffmpeg, else bundled)")
    f(
        p,
        "--input-root",
        default=Path("ffrtmp-input"),
        type=Path,
        help="input files are read under here (never a directory holding --key or --ca)",
    )
    f(
        p,
        "--output-root",
        default=Path("ffrtmp-output"),
        type=Path,
        help="output files are written under here",
    )
    f(
        p,
        "--rtmp-base",
        default="rtmp://localhost:1935/live",
        help="live jobs without an output push to RTMP_BASE/<job id>",
    )
    f(
        p,
        "--metrics-port",
        default=9091,
        type=int,
        help="Prometheus /metrics port; 0 picks a free port, -1 disables",
    )
    f(p, "--metrics-host", default="0.0.0.0", help="address for the metrics endpoint")
    f(
        p,
        "--min-free-disk",
        default=DEFAULT_MIN_FREE_BYTES,
        type=parse_size,
        help="refuse jobs writing under --output-root when less is free (e.g. 512M, 0 disables)",
    )
    f(
        p,
        "--input-cache",
        default=Path("ffrtmp-cache"),
        type=Path,
        help="stored (blob) inputs are downloaded here; emptied at start",
    )
    f(
        p,
        "--input-cache-size",
        default=DEFAULT_CACHE_BYTES,
        type=parse_size,
        help="the input cache's bound (e.g. 20G); a job whose input does not fit"
        " while others read the rest is refused, and the worker takes no new jobs",
    )
    f(
        p,
        "--no-store-outputs",
        action="store_true",
        help="keep file and HLS outputs only under --output-root instead of also"
        " storing them in the master's blob store (for farms that share storage)",
    )
    f(
        p,
        "--ffmpeg-nice",
        default=FFMPEG_NICE,
        type=int,
        help="nice level of jobs that set none (0-19)",
    )
    f(
        p,
        "--allow-raw-args",
        action="store_true",
        help="take jobs with raw ffmpeg arguments (they can read and write anywhere ffmpeg can)",
    )
    f(
        p,
        "--stop-grace",
        default=3600.0,
        type=flags.duration,
        help="on SIGTERM, how long running jobs may finish before they are killed (e.g. 1h);"
        " the worker exits within it + 1.5s",
    )
    flags.add_log_flags(p)
    return p


def config_from(args: argparse.Namespace) -> WorkerConfig:
    return WorkerConfig(
        master=args.master,
        ca=args.ca,
        cert=args.cert,
        key=args.key,
        slots=args.slots,
        labels=args.labels,
        ffmpeg=args.ffmpeg,
        input_root=args.input_root,
        output_root=args.output_root,
        rtmp_base=args.rtmp_base,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        min_free_disk_bytes=args.min_free_disk,
        ffmpeg_nice=args.ffmpeg_nice,
        allow_raw_args=args.allow_raw_args,
        input_cache=args.input_cache,
        input_cache_bytes=args.input_cache_size,
        store_outputs=not args.no_store_outputs,
    )


async def run(config: WorkerConfig, grace: float) -> int:
    worker = Worker(config)
    stopping: list[asyncio.Task[None]] = []

    async def drain() -> None:
        # Running jobs get the grace to finish; past it they are killed (their
        # leases go back to the master) as the worker stops.
        if not await bounded("drain", worker.drain(), grace):
            worker.shutdown()

    def first_signal() -> None:
        log.info("draining: running jobs get %.0fs to finish", grace)
        stopping.append(asyncio.create_task(drain(), name="drain"))

    # Signals from the start on: one during start-up stops the worker once it is up.
    with StopSignals("worker", first_signal, grace + WATCHDOG_MARGIN_S):
        async with worker:  # a failure to start (no ffmpeg) is raised here
            await worker.wait()
    if worker.background.has_failed:
        raise RuntimeError("an essential task of the worker ended")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if not 1 <= args.slots <= 256:
        p.error("--slots must be from 1 to 256")
    if not 0 <= args.ffmpeg_nice <= 19:
        p.error("--ffmpeg-nice must be from 0 to 19")
    try:
        masters.parse(args.master)
    except ValueError as exc:
        p.error(str(exc))
    try:
        check_roots(
            {
                "--input-root": args.input_root,
                "--output-root": args.output_root,
                "--input-cache": args.input_cache,
            },
            {"private key": args.key, "CA certificate": args.ca},
        )
    except PathRefused as exc:
        print(f"ffrtmp-worker: {exc}", file=sys.stderr)
        return 2
    logsetup.setup(args.log_level, args.log_format)
    tracing.setup("ffrtmp-worker", args.trace_exporter)
    try:
        code = asyncio.run(run(config_from(args), args.stop_grace))
    except (FfmpegNotFound, FileNotFoundError) as exc:
        print(f"ffrtmp-worker: {exc}", file=sys.stderr)
        return 2
    exit_now(code)  # stopped: nothing left worth the interpreter's slow teardown


if __name__ == "__main__":
    sys.exit(main())
