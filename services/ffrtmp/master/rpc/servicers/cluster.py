"""ClusterService: which masters share the database and which one leads.
Every master answers, a standby included (the leader gate lets it through)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ffrtmp.master.leadership.ha import Status
from ffrtmp.master.rpc.handlers import Ctx
from ffrtmp.v1 import cluster_pb2, cluster_pb2_grpc


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class ClusterServicer(cluster_pb2_grpc.ClusterServiceServicer):
    def __init__(self, status: Callable[[], Awaitable[Status]]) -> None:
        self.status = status

    async def GetClusterStatus(
        self, request: cluster_pb2.GetClusterStatusRequest, context: Ctx
    ) -> cluster_pb2.GetClusterStatusResponse:
        st = await self.status()
        return cluster_pb2.GetClusterStatusResponse(
            mode=st.mode,
            answered_by=st.me,
            leader_id=st.leader_id,
            leader_address=st.leader_address,
            term=st.term,
            leader_since_unix_ms=_ms(st.since_s) if st.leader_id else 0,
            lease_remaining_ms=max(0, _ms(st.remaining_s)),
            masters=[
                cluster_pb2.MasterStatus(
                    id=m.master_id,
                    address=m.address,
                    started_unix_ms=_ms(m.started_s),
                    seen_ago_ms=max(0, _ms(m.seen_ago_s)),
                    leader=m.master_id == st.leader_id,
                )
                for m in st.masters
            ],
        )
