"""`ffrtmp`: the command line for a cluster's users and operators (entered
through ffrtmp.cli.main, which quiets grpc first)."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys

from grpc import StatusCode, aio

from ffrtmp import flags
from ffrtmp.cli import admin, certs, cluster, health, jobs, misc, nodes, queue, settings
from ffrtmp.cli.context import tls_paths
from ffrtmp.tls import diagnose


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ffrtmp",
        description="Use an ffrtmp transcoding cluster. Connection settings come from flags, "
        f"then FFRTMP_* variables, then {settings.config_path()}.",
    )
    f = flags.add
    f(p, "--master", default="localhost:50051",
      help="master address HOST:PORT; several masters: comma-separated (the leader is followed)")
    f(p, "--ca", default="certs/ca.crt", help="CA certificate")
    f(p, "--cert", default="certs/admin.crt", help="client certificate")
    f(p, "--key", default="certs/admin.key", help="client private key")
    f(p, "--api-key", default="", help="API key, sent as `authorization: Bearer`")
    f(p, "--output", "-o", default="table", choices=["table", "json"], help="output format")
    f(p, "--timeout", default=15.0, type=flags.duration, help="per-call deadline")
    p.add_argument(
        "--debug", action="store_true", help="let grpc print its own log lines (TLS, transport)"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    jobs.register(sub)
    nodes.register(sub)
    queue.register(sub)
    misc.register(sub)
    admin.register(sub)
    health.register(sub)
    cluster.register(sub)
    certs.register(sub)
    return p


def _explain(exc: aio.AioRpcError, args: argparse.Namespace) -> str:
    code = exc.code()
    if code == StatusCode.UNAVAILABLE:
        why = diagnose.diagnose(args.master.split(",")[0].strip(), tls_paths(args))
        if why is not None:
            return f"cannot reach the master at {args.master}: {why}"
        return (
            f"cannot reach the master at {args.master}: {exc.details()}\n"
            "  is ffrtmp-master running there? Set --master or FFRTMP_MASTER. If it is, check "
            f"that --ca ({args.ca}), --cert ({args.cert}) and --key come from its CA "
            "(ffrtmp certs show FILE)."
        )
    if code == StatusCode.DEADLINE_EXCEEDED:
        return f"the master at {args.master} did not answer in time (raise --timeout)"
    return f"{code.name}: {exc.details()}"


def main(argv: list[str] | None = None) -> int:
    p = parser()
    defaults = {k: p.get_default(k) for k in settings.KEYS}
    path = settings.config_path()
    try:
        loaded = settings.load(path)
    except ValueError as exc:
        print(f"error: config file {exc}", file=sys.stderr)
        return 2
    settings.apply(p, loaded)
    args = p.parse_args(argv)
    args.root_parser = p
    args.settings_sources = lambda a: settings.sources(a, defaults, loaded, path)
    try:
        result = args.func(args)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except aio.AioRpcError as exc:
        print(f"error: {_explain(exc, args)}", file=sys.stderr)
        return 1
    except (FileNotFoundError, diagnose.SetupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
