"""`ffrtmp nodes ...`: the workers the master knows."""

from __future__ import annotations

import argparse

from ffrtmp.cli import output
from ffrtmp.cli.context import client_from, wants_json


async def list_nodes(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        nodes = await c.list_nodes()
    if wants_json(args):
        output.print_json([output.node_dict(n) for n in nodes])
    else:
        output.nodes_table(nodes)
    return 0


async def get(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        node = await c.get_node(args.node_id)
    if wants_json(args):
        output.print_json(output.node_dict(node))
    else:
        output.nodes_table([node])
    return 0


async def drain(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        node = await c.drain_node(args.node_id, args.drain)
    if wants_json(args):
        output.print_json(output.node_dict(node))
    else:
        output.nodes_table([node])
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    nodes = subparsers.add_parser("nodes", help="inspect worker nodes")
    sub = nodes.add_subparsers(dest="nodes_command", metavar="COMMAND", required=True)
    p = sub.add_parser("list", help="every node the master knows")
    p.set_defaults(func=list_nodes)
    p = sub.add_parser("drain", help="finish running jobs, take no new ones")
    p.add_argument("node_id", metavar="ID")
    p.set_defaults(func=drain, drain=True)
    p = sub.add_parser("undrain", help="take new jobs again")
    p.add_argument("node_id", metavar="ID")
    p.set_defaults(func=drain, drain=False)
    p = sub.add_parser("get", help="one node")
    p.add_argument("node_id", metavar="ID")
    p.set_defaults(func=get)
