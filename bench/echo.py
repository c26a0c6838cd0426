"""The ceiling: a bare grpc.aio unary echo over the same mutual TLS, with no
protobuf, no interceptor and no work. Run as `python -m bench.echo CERT_DIR`;
prints "echo ready port=N"."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import grpc
from grpc import aio

from ffrtmp import eventloop
from ffrtmp.tls.credentials import server_credentials

METHOD = "/bench.Echo/Echo"


async def _echo(request: bytes, context: aio.ServicerContext[bytes, bytes]) -> bytes:
    return request


async def serve_bare(
    server: aio.Server, handler: grpc.GenericRpcHandler, certs: Path, ready: str
) -> None:
    """Serve one generic handler on loopback with the master's certificate, print
    `ready` with `{port}` filled in, and run until SIGTERM."""
    server.add_generic_rpc_handlers((handler,))
    creds = server_credentials(certs / "ca.crt", certs / "master.crt", certs / "master.key")
    port = server.add_secure_port("127.0.0.1:0", creds)
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(ready.format(port=port), flush=True)
    await stop.wait()
    await server.stop(1)


async def serve(certs: Path) -> None:
    # No (de)serializers: the handler sees and returns raw bytes.
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    )
    loop = type(asyncio.get_running_loop()).__module__.partition(".")[0]
    await serve_bare(aio.server(), handler, certs, f"echo ready port={{port}} loop={loop}")


if __name__ == "__main__":
    # The loop the master runs on (same flag, same default), so the ratios to this
    # ceiling compare like with like.
    eventloop.run(serve(Path(sys.argv[1])), os.environ.get("FFRTMP_EVENT_LOOP") or "auto")
