"""What every remote command needs: a client built from the global flags."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from ffrtmp.cli.settings import config_path
from ffrtmp.client import Client
from ffrtmp.tls.diagnose import check_files


def tls_paths(args: argparse.Namespace) -> dict[str, Path]:
    return {"ca": Path(args.ca), "cert": Path(args.cert), "key": Path(args.key)}


def _source(args: argparse.Namespace) -> Callable[[str], str]:
    """Where a setting came from, in words, for messages about a wrong path."""
    found = {k: src for k, _, src in args.settings_sources(args)}
    words = {"default": "the built-in default", "flag": "the command line"}
    return lambda name: words.get(found.get(name, "default"), found.get(name, "default"))


def where_to_point() -> str:
    return (
        "Point the CLI at the cluster's files with --ca/--cert/--key, FFRTMP_CA/FFRTMP_CERT/"
        f"FFRTMP_KEY, or ca/cert/key in {config_path()}. They are where `ffrtmp certs init` "
        "ran for this cluster (copy ca.crt and a client pair, or `ffrtmp certs issue client "
        "NAME --role ROLE --dir THAT_DIR`); running `certs init` again would make a second "
        "CA that the running master does not trust."
    )


def client_from(args: argparse.Namespace) -> Client:
    """A client for the master; SetupError first when the TLS files cannot work."""
    check_files(tls_paths(args), _source(args), where_to_point(), dt.datetime.now(dt.UTC))
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
