"""`ffrtmp`: the command line for a cluster's users and operators."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys

from grpc import StatusCode, aio

from ffrtmp import flags
from ffrtmp.cli import certs, jobs, nodes, queue


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ffrtmp", description="Use an ffrtmp transcoding cluster.")
    f = flags.add
    f(p, "--master", default="localhost:50051", help="master address HOST:PORT")
    f(p, "--ca", default="certs/ca.crt", help="CA certificate")
    f(p, "--cert", default="certs/admin.crt", help="client certificate")
    f(p, "--key", default="certs/admin.key", help="client private key")
    f(p, "--output", "-o", default="table", choices=["table", "json"], help="output format")
    f(p, "--timeout", default=15.0, type=flags.duration, help="per-call deadline")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    jobs.register(sub)
    nodes.register(sub)
    queue.register(sub)
    certs.register(sub)
    return p


def _explain(exc: aio.AioRpcError, master: str) -> str:
    code = exc.code()
    if code == StatusCode.UNAVAILABLE:
        return (
            f"cannot reach the master at {master}: {exc.details()}\n"
            "  is ffrtmp-master running there? set --master or FFRTMP_MASTER, and check "
            "that --ca/--cert/--key come from the cluster's CA"
        )
    if code == StatusCode.DEADLINE_EXCEEDED:
        return f"the master at {master} did not answer in time (--timeout)"
    return f"{code.name}: {exc.details()}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = args.func(args)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except aio.AioRpcError as exc:
        print(f"error: {_explain(exc, args.master)}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
