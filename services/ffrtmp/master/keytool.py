"""`ffrtmp-master apikey create|list|revoke --db PATH`: API keys made straight in
the database, for the first admin key of a master started with
--require-api-key. A running master picks changes up on SIGHUP."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ffrtmp.core.authz import ROLES
from ffrtmp.core.errors import FfrtmpError
from ffrtmp.master.rpc.apikeys import ApiKeys
from ffrtmp.master.storage.factory import make_store
from ffrtmp.master.storage.postgres import lease
from ffrtmp.master.storage.postgres.store import PgStore
from ffrtmp.master.storage.protocol import StoreError

HOLDER = "ffrtmp-master apikey"


async def _run(args: argparse.Namespace) -> int:
    store = make_store(args.db)
    await store.open()
    taken: int | None = None
    try:
        if isinstance(store, PgStore):  # writes need a leader term
            taken = await lease.adopt(store, HOLDER)
        keys = ApiKeys(store)
        await keys.load()
        if args.command == "create":
            key, secret = await keys.create(args.user, args.role, "ffrtmp-master apikey")
            print(f"created API key {key.id} for {key.user} ({key.role}); send SIGHUP to a "
                  "running master. The key, shown only now:")
            print(secret)
        elif args.command == "revoke":
            key = await keys.revoke(args.id)
            print(f"revoked API key {key.id} of {key.user}; send SIGHUP to a running master")
        else:
            for k in keys.all():
                state = "revoked" if k.revoked_ms else "valid"
                print(f"{k.id}  {k.user}  {k.role}  {state}")
    finally:
        if taken is not None and isinstance(store, PgStore):
            async with store.connection() as conn:
                await lease.release(conn, HOLDER, taken)
        await store.close()
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="ffrtmp-master apikey",
                                description="manage API keys in a master's database")
    p.add_argument("--db", required=True, help="the master's job store (as its --db)")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create")
    c.add_argument("user")
    c.add_argument("--role", required=True, choices=ROLES)
    r = sub.add_parser("revoke")
    r.add_argument("id")
    sub.add_parser("list")
    args = p.parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except FfrtmpError as exc:
        print(f"ffrtmp-master apikey: {exc.message}", file=sys.stderr)
        return 2
    except (ValueError, StoreError) as exc:  # a --db refused, a database unreachable
        print(f"ffrtmp-master apikey: {exc}", file=sys.stderr)
        return 2
