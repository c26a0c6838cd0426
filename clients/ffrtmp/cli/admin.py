"""`ffrtmp apikeys ...` and `ffrtmp audit list` (admin role)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from rich.console import Console
from rich.table import Table

from ffrtmp.cli import output
from ffrtmp.cli.context import client_from, wants_json
from ffrtmp.core.authz import ROLES
from ffrtmp.v1 import admin_pb2


def _iso(ms: int) -> str | None:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat() if ms else None


def key_dict(k: admin_pb2.ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "user": k.user,
        "role": k.role,
        "created_at": _iso(k.created_unix_ms),
        "created_by": k.created_by,
        "revoked_at": _iso(k.revoked_unix_ms),
    }


def _table(title: str, cols: tuple[str, ...], rows: list[list[str]]) -> None:
    t = Table(title=title)
    for col in cols:
        t.add_column(col)
    for row in rows:
        t.add_row(*row)
    Console(width=max(110, Console().width)).print(t)


async def create(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        resp = await c.create_api_key(args.user, args.role)
    if wants_json(args):
        output.print_json({**key_dict(resp.key), "secret": resp.secret})
    else:
        print(f"created API key {resp.key.id} for {resp.key.user} ({resp.key.role}).")
        print("It is shown only now; store it safely:")
        print(resp.secret)
    return 0


async def list_keys(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        keys = await c.list_api_keys()
    rows: list[dict[str, Any]] = [key_dict(k) for k in keys]
    if wants_json(args):
        output.print_json(rows)
    else:
        _table(
            "API keys",
            ("ID", "USER", "ROLE", "CREATED", "BY", "REVOKED"),
            [
                [
                    r["id"],
                    r["user"],
                    r["role"],
                    r["created_at"] or "",
                    r["created_by"],
                    r["revoked_at"] or "-",
                ]
                for r in rows
            ],
        )
    return 0


async def revoke(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        key = await c.revoke_api_key(args.id)
    if wants_json(args):
        output.print_json(key_dict(key))
    else:
        print(f"revoked API key {key.id} of {key.user}")
    return 0


async def audit(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        events = await c.audit(args.limit)
    rows = [
        {
            "id": e.id,
            "at": _iso(e.at_unix_ms),
            "actor": e.actor,
            "role": e.role,
            "action": e.action,
            "target": e.target,
            "detail": e.detail,
        }
        for e in events
    ]
    if wants_json(args):
        output.print_json(rows)
    else:
        _table(
            "audit",
            ("AT", "ACTOR", "ROLE", "ACTION", "TARGET", "DETAIL"),
            [
                [str(r[k] or "") for k in ("at", "actor", "role", "action", "target", "detail")]
                for r in rows
            ],
        )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = subparsers.add_parser("apikeys", help="API keys (admin)")
    sub = keys.add_subparsers(dest="apikeys_command", metavar="COMMAND", required=True)
    p = sub.add_parser("create", help="create a key for a user; its secret is shown once")
    p.add_argument("user")
    p.add_argument("--role", required=True, choices=ROLES)
    p.set_defaults(func=create)
    sub.add_parser("list", help="every key, revoked ones too").set_defaults(func=list_keys)
    p = sub.add_parser("revoke", help="revoke a key at once")
    p.add_argument("id")
    p.set_defaults(func=revoke)
    a = subparsers.add_parser("audit", help="the audit log (admin)")
    sub = a.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    p = sub.add_parser("list", help="newest first")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=audit)
