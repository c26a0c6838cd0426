"""The servers `bench.streammem` measures, each in a process of its own:

* `python -m bench.streammem_serve bare CERT_DIR` — a bare grpc.aio mTLS server
  with the WorkerService method and nothing of the master: it answers a Hello
  with a Welcome (5 s heartbeats) and reads the stream until it ends. What grpc,
  TLS and protobuf hold per stream.
* `python -m bench.streammem_serve master MASTER_ARGS...` — the master under
  tracemalloc; each SIGUSR1 prints the Python memory traced and, from the second
  on, the lines whose allocations grew most since the first.
"""

from __future__ import annotations

import os
import signal
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from bench.echo import serve_bare
from ffrtmp import eventloop
from ffrtmp.v1 import worker_pb2

WELCOME = worker_pb2.MasterMessage(
    welcome=worker_pb2.Welcome(
        node_id="bare", heartbeat_interval_s=5, heartbeat_timeout_s=120, stall_timeout_s=120
    )
)

ACK_MSG = worker_pb2.MasterMessage(heartbeat_ack=worker_pb2.HeartbeatAck(seq=1))
ACK = os.environ.get("STREAMMEM_ACK") == "1"
OPTS = os.environ.get("STREAMMEM_OPTS") == "1"


async def _connect(requests: AsyncIterator[worker_pb2.WorkerMessage], context: Any) -> None:
    if await anext(aiter(requests), None) is None:
        return
    await context.write(WELCOME)
    n = 0
    async for _ in requests:
        n += 1
        if ACK and n % 3 == 0:
            await context.write(ACK_MSG)


async def _bare(certs: Path) -> None:
    from ffrtmp.master.rpc.services import SERVER_OPTIONS

    server = aio.server(options=SERVER_OPTIONS if OPTS else None)
    handler = grpc.method_handlers_generic_handler(
        "ffrtmp.v1.WorkerService",
        {
            "Connect": grpc.stream_stream_rpc_method_handler(
                _connect,
                request_deserializer=worker_pb2.WorkerMessage.FromString,
                response_serializer=worker_pb2.MasterMessage.SerializeToString,
            )
        },
    )
    await serve_bare(server, handler, certs, "ffrtmp-master ready port={port} metrics_port=0")


_first: list[tracemalloc.Snapshot] = []


def _dump(signum: int, frame: object) -> None:
    snap = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    total = sum(s.size for s in snap.statistics("filename"))
    if not _first:
        _first.append(snap)
    else:
        for stat in snap.compare_to(_first[0], "lineno")[:20]:
            where = stat.traceback[0]
            print(f"traced-top {stat.size_diff / 1024:+7.0f} KiB {stat.count_diff:+7d} {where}")
    print(f"traced bytes={total}", flush=True)


def main() -> int:
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "bare":
        eventloop.run(_bare(Path(rest[0])), "auto")
        return 0
    from ffrtmp.master import main as master

    tracemalloc.start(1)
    signal.signal(signal.SIGUSR1, _dump)
    return master.main(rest)


if __name__ == "__main__":
    sys.exit(main())
