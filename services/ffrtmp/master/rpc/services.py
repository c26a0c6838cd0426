"""What the master's gRPC server serves and with which options: the services,
their registration, reflection."""

from __future__ import annotations

from typing import Any

from grpc import aio
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection

from ffrtmp.master.observe.health import MasterHealth
from ffrtmp.master.rpc.servicers.admin import AdminServicer
from ffrtmp.master.rpc.servicers.cluster import ClusterServicer
from ffrtmp.master.rpc.servicers.jobs import JobServicer
from ffrtmp.master.rpc.servicers.nodes import NodeServicer
from ffrtmp.master.rpc.servicers.worker import WorkerServicer
from ffrtmp.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    blobs_pb2,
    cluster_pb2,
    cluster_pb2_grpc,
    jobs_pb2,
    jobs_pb2_grpc,
    nodes_pb2,
    nodes_pb2_grpc,
    worker_pb2,
    worker_pb2_grpc,
)

# The leader's services: a standby turns their calls away (rpc/leader_gate.py).
SERVICES = (
    jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
    nodes_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name,
    worker_pb2.DESCRIPTOR.services_by_name["WorkerService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    blobs_pb2.DESCRIPTOR.services_by_name["BlobService"].full_name,
)
CLUSTER = cluster_pb2.DESCRIPTOR.services_by_name["ClusterService"].full_name

# Keepalive pings find dead TCP peers even when a worker's stream is idle.
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    # A second master on the same port must fail to bind, not split the calls.
    ("grpc.so_reuseport", 0),
    # TLS records of 8 KiB instead of 16: grpc sizes each connection's TLS
    # buffers by it, 3.7 KiB less a worker stream (10,000 workers: 1,045 ->
    # 1,006 MiB), for about 7 % more master CPU a blob MB at the same MB/s
    # (docs/PERFORMANCE.md, (f)).
    ("grpc.tsi.max_frame_size", 8192),
]


def add_services(
    server: aio.Server,
    *,
    jobs: JobServicer,
    nodes: NodeServicer,
    worker: WorkerServicer,
    admin: AdminServicer,
    cluster: ClusterServicer,
    health: MasterHealth,
) -> None:
    jobs_pb2_grpc.add_JobServiceServicer_to_server(jobs, server)
    nodes_pb2_grpc.add_NodeServiceServicer_to_server(nodes, server)
    worker_pb2_grpc.add_WorkerServiceServicer_to_server(worker, server)
    admin_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)
    cluster_pb2_grpc.add_ClusterServiceServicer_to_server(cluster, server)
    health.add_to(server)
    reflection.enable_server_reflection(
        (
            *SERVICES,
            CLUSTER,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
