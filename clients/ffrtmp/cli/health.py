"""`ffrtmp health`: the master's grpc.health.v1 status, over mutual TLS like every
command, or on the plaintext health-only port (`--plaintext HOST:PORT`), which
serves nothing else. Exit status 0 only while SERVING, for scripts and probes."""

from __future__ import annotations

import argparse
from typing import Any

from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ffrtmp.cli import output
from ffrtmp.cli.context import client_from, wants_json


async def check(args: argparse.Namespace) -> int:
    if args.plaintext:
        async with aio.insecure_channel(args.plaintext) as ch:
            stub: Any = health_pb2_grpc.HealthStub(ch)  # its type stubs lack Check
            resp = await stub.Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    else:
        async with client_from(args) as c:
            status = await c.health(args.service)
    if wants_json(args):
        output.print_json({"status": status})
    else:
        print(status)
    return 0 if status == "SERVING" else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("health", help="is the master serving? (exit 0 when it is)")
    p.add_argument(
        "--plaintext",
        metavar="HOST:PORT",
        help="ask the master's health-only port (--health-port) instead, without TLS",
    )
    p.add_argument("--service", default="", help='one service, e.g. ffrtmp.v1.JobService')
    p.set_defaults(func=check)
