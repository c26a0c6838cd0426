"""`ffrtmp-master`: flags and environment in, a running master out."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from ffrtmp import eventloop, flags, logsetup, tracing
from ffrtmp.core.election import DEFAULT_LEASE_S, DEFAULT_RENEW_S, LeaseTiming
from ffrtmp.core.retry import Backoff
from ffrtmp.core.scenarios import Scenario
from ffrtmp.lifecycle import WATCHDOG_MARGIN_S, StopSignals, exit_now
from ffrtmp.master import catalog
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.server import Master
from ffrtmp.master.storage.blobs import config as blob_config
from ffrtmp.master.storage.protocol import StoreError
from ffrtmp.master.storage.sqlite import backup

log = logging.getLogger("ffrtmp.master")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ffrtmp-master",
        description="The ffrtmp master: takes transcoding jobs and hands them to workers."
        " `ffrtmp-master backup --db PATH --to FILE` copies a live database;"
        " `ffrtmp-master migrate --from PATH --to postgresql://…` moves it to PostgreSQL.",
    )
    f = flags.add
    D = MasterConfig()  # every default is the config's own: one place states it
    f(p, "--listen", default=D.listen, help="gRPC address (HOST:PORT)")
    f(
        p,
        "--metrics-port",
        default=D.metrics_port,
        type=int,
        help="Prometheus /metrics port; 0 picks a free port, -1 disables",
    )
    f(p, "--metrics-host", default=D.metrics_host, help="address for the metrics endpoint")
    f(
        p,
        "--health-port",
        default=D.health_port,
        type=int,
        help="plaintext grpc.health.v1-only port for probes without mTLS; 0 disables",
    )
    f(p, "--health-host", default=D.health_host, help="address for the health-only port")
    f(
        p,
        "--db",
        default=str(D.db),
        help="the job store: a SQLite file path (or sqlite:PATH), or"
        " postgresql://USER@HOST[:PORT]/DATABASE shared by several masters",
    )
    f(p, "--ca", default="certs/ca.crt", type=Path, help="CA certificate that signs peers")
    f(p, "--cert", default="certs/master.crt", type=Path, help="master certificate")
    f(p, "--key", default="certs/master.key", type=Path, help="master private key")
    f(p, "--max-retries", default=D.max_retries, type=int, help="retries of a transient failure")
    f(
        p,
        "--max-lost-attempts",
        default=D.max_lost_attempts,
        type=int,
        help="attempts a job may lose to the infrastructure (worker lost or fenced), "
        "apart from --max-retries",
    )
    f(
        p,
        "--scheduler-interval",
        default=D.scheduler_interval_s,
        type=flags.duration,
        help="longest pause between sweeps of the scheduler's timers (e.g. 10s)",
    )
    f(
        p,
        "--heartbeat-interval",
        default=D.heartbeat_interval_s,
        type=flags.duration,
        help="how often workers heartbeat (e.g. 30s)",
    )
    f(
        p,
        "--heartbeat-timeout",
        default=D.heartbeat_timeout_s,
        type=flags.duration,
        help="silence after which a worker is lost and its jobs move on (e.g. 2m)",
    )
    f(
        p,
        "--stall-timeout",
        default=D.stall_timeout_s,
        type=flags.duration,
        help="a run with no ffmpeg progress for this long is killed and retried; 0 disables",
    )
    f(
        p,
        "--scenarios",
        default=None,
        type=Path,
        help="TOML file of extra scenarios ([scenarios.NAME] tables) over the built-in ones",
    )
    f(
        p,
        "--aging-interval",
        default=D.aging_interval_s,
        type=flags.duration,
        help="a waiting job gains one priority point per interval (e.g. 5m); 0 is off",
    )
    f(p, "--retry-backoff", default=D.backoff.base_s, type=flags.duration, help="first retry delay")
    f(p, "--retry-backoff-factor", default=D.backoff.factor, type=float,
      help="growth of the retry delay")
    f(p, "--retry-backoff-max", default=D.backoff.cap_s, type=flags.duration,
      help="longest retry delay")
    f(p, "--retry-jitter", default=D.backoff.jitter, type=float,
      help="random spread of retry delays (±)")
    f(
        p,
        "--sqlite-synchronous",
        default=D.sqlite_synchronous,
        choices=["FULL", "NORMAL"],
        help="SQLite synchronous mode; FULL survives power loss",
    )
    f(
        p,
        "--retention",
        default=D.retention_s,
        type=flags.duration,
        help="delete finished jobs and their history this long after they ended; 0 keeps all",
    )
    f(
        p,
        "--retention-interval",
        default=D.retention_interval_s,
        type=flags.duration,
        help="how often retention sweeps (e.g. 1h)",
    )
    f(p, "--require-api-key", action="store_true", default=D.require_api_key,
      help="refuse client RPCs without a valid `authorization: Bearer` API key")
    f(p, "--rate-limit", default=D.rate_limit, type=float,
      help="requests per second per identity (token bucket); 0 is off")
    f(p, "--rate-burst", default=D.rate_burst, type=float, help="burst size of the rate limit")
    f(p, "--max-watches", default=D.max_watches, type=int,
      help="concurrent WatchJob streams per identity")
    f(p, "--deny-list", default=None, type=Path,
      help="file of revoked certificate serials (hex, one per line); reread on SIGHUP")
    f(
        p,
        "--stop-grace",
        default=D.stop_grace_s,
        type=flags.duration,
        help="on SIGTERM, how long calls may finish; the master exits within it + 1.5s",
    )
    blob_config.add_flags(p)
    f(p, "--lease", default=DEFAULT_LEASE_S, type=flags.duration,
      help="several masters on PostgreSQL: how long the leader's lease lasts unless renewed;"
      " a failover takes about this long")
    f(p, "--lease-renew", default=DEFAULT_RENEW_S, type=flags.duration,
      help="how often the leader renews its lease (at most half the lease minus a margin)")
    f(p, "--advertise", default="",
      help="HOST:PORT clients and workers are sent to while this master leads"
      " (default: this host's name and the --listen port)")
    f(
        p,
        "--event-loop",
        default="auto",
        choices=list(eventloop.CHOICES),
        help="asyncio event loop: auto is uvloop when installed (the fast extra)",
    )
    flags.add_log_flags(p)
    return p


def config_from(args: argparse.Namespace) -> MasterConfig:
    return MasterConfig(
        listen=args.listen,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        db=args.db,
        ca=args.ca,
        cert=args.cert,
        key=args.key,
        max_retries=args.max_retries,
        max_lost_attempts=args.max_lost_attempts,
        scheduler_interval_s=args.scheduler_interval,
        heartbeat_interval_s=args.heartbeat_interval,
        heartbeat_timeout_s=args.heartbeat_timeout,
        stall_timeout_s=args.stall_timeout,
        aging_interval_s=args.aging_interval,
        backoff=Backoff(
            base_s=args.retry_backoff,
            factor=args.retry_backoff_factor,
            cap_s=args.retry_backoff_max,
            jitter=args.retry_jitter,
        ),
        sqlite_synchronous=args.sqlite_synchronous,
        health_port=args.health_port,
        health_host=args.health_host,
        retention_s=args.retention,
        retention_interval_s=max(0.05, args.retention_interval),
        trace_exporter=args.trace_exporter,
        scenarios=_scenarios(args.scenarios),
        require_api_key=args.require_api_key,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        max_watches=args.max_watches,
        deny_list=args.deny_list,
        stop_grace_s=args.stop_grace,
        blobs=blob_config.from_args(args),
        lease_s=args.lease,
        lease_renew_s=args.lease_renew,
        advertise=args.advertise,
    )


def _scenarios(path: Path | None) -> dict[str, Scenario]:
    try:
        return catalog.load(path)
    except ValueError as exc:
        raise SystemExit(f"ffrtmp-master: --scenarios {path}: {exc}") from None


async def run(config: MasterConfig) -> int:
    master = Master(config)
    await master.start()
    stopping: list[asyncio.Task[None]] = []

    def stop() -> None:
        log.info("stopping intake, finishing calls for %.1fs", config.stop_grace_s)
        stopping.append(asyncio.create_task(master.stop(), name="stop"))

    loop = asyncio.get_running_loop()
    log.info("event loop: %s", type(loop).__module__.partition(".")[0])
    with StopSignals("master", stop, config.stop_grace_s + WATCHDOG_MARGIN_S) as signals:
        loop.add_signal_handler(signal.SIGHUP, master.reload)
        # Tells a supervising test or script that the ports are bound.
        logsetup.ready(
            f"ffrtmp-master ready port={master.port} metrics_port={master.metrics_port}"
            f" health_port={master.health_port}"
        )
        try:
            failed = await master.wait()
            signals.arm()  # a failed task stops the master within the same bound
            await master.stop()
        finally:
            loop.remove_signal_handler(signal.SIGHUP)  # see StopSignals
    return 1 if failed else 0  # non-zero: systemd's Restart=on-failure starts it again


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Subcommands; `ffrtmp-master [flags]` runs the master.
    if argv[:1] == ["backup"]:
        return backup.main(argv[1:])
    if argv[:1] == ["apikey"]:
        from ffrtmp.master import keytool

        return keytool.main(argv[1:])
    if argv[:1] == ["migrate"]:
        from ffrtmp.master.storage.postgres import importer

        return importer.main(argv[1:])
    args = parser().parse_args(argv)
    logsetup.setup(args.log_level, args.log_format)
    tracing.setup("ffrtmp-master", args.trace_exporter)
    if args.max_retries < 0:
        parser().error("--max-retries must be at least 0")
    if problem := LeaseTiming(args.lease, args.lease_renew).problem():
        parser().error(problem)
    try:
        code = eventloop.run(run(config_from(args)), args.event_loop)
    except (OSError, ValueError, StoreError) as exc:  # a busy port, a bad flag, no database
        print(f"ffrtmp-master: {exc}", file=sys.stderr)
        return 2
    exit_now(code)  # stopped: nothing left worth the interpreter's slow teardown


if __name__ == "__main__":
    sys.exit(main())
