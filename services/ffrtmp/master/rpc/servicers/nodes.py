"""NodeService: the workers the master knows."""

from __future__ import annotations

from ffrtmp import wire
from ffrtmp.core.errors import InvalidArgument, NotFound
from ffrtmp.master.rpc.auth import current_actor
from ffrtmp.master.rpc.handlers import Ctx
from ffrtmp.master.scheduling.scheduler import Scheduler
from ffrtmp.v1 import nodes_pb2, nodes_pb2_grpc


def _node_id(value: str) -> str:
    if not value or len(value) > 64:
        raise InvalidArgument("node_id", "is required, at most 64 characters")
    return value


class NodeServicer(nodes_pb2_grpc.NodeServiceServicer):
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def use(self, scheduler: Scheduler) -> None:
        """Serve from `scheduler` (a new one each time this master becomes leader)."""
        self.scheduler = scheduler

    async def ListNodes(
        self, request: nodes_pb2.ListNodesRequest, context: Ctx
    ) -> nodes_pb2.ListNodesResponse:
        nodes = sorted(self.scheduler.st.nodes.values(), key=lambda n: n.node_id)
        return nodes_pb2.ListNodesResponse(nodes=[wire.node_pb(n) for n in nodes])

    async def DrainNode(
        self, request: nodes_pb2.DrainNodeRequest, context: Ctx
    ) -> nodes_pb2.DrainNodeResponse:
        node = await self.scheduler.drain(_node_id(request.node_id), True, current_actor())
        return nodes_pb2.DrainNodeResponse(node=wire.node_pb(node))

    async def UndrainNode(
        self, request: nodes_pb2.UndrainNodeRequest, context: Ctx
    ) -> nodes_pb2.UndrainNodeResponse:
        node = await self.scheduler.drain(_node_id(request.node_id), False, current_actor())
        return nodes_pb2.UndrainNodeResponse(node=wire.node_pb(node))

    async def GetNode(
        self, request: nodes_pb2.GetNodeRequest, context: Ctx
    ) -> nodes_pb2.GetNodeResponse:
        if not request.node_id or len(request.node_id) > 64:
            raise InvalidArgument("node_id", "is required, at most 64 characters")
        node = self.scheduler.st.nodes.get(request.node_id)
        if node is None:
            raise NotFound(f"node {request.node_id!r} not found")
        return nodes_pb2.GetNodeResponse(node=wire.node_pb(node))
