"""What every remote command needs: a client built from the global flags."""

from __future__ import annotations

import argparse
from pathlib import Path

from ffrtmp.client import Client


def client_from(args: argparse.Namespace) -> Client:
    return Client(
        args.master,
        ca=Path(args.ca),
        cert=Path(args.cert),
        key=Path(args.key),
        timeout=args.timeout,
        api_key=args.api_key or "",
    )


def wants_json(args: argparse.Namespace) -> bool:
    return bool(args.output == "json")
