"""`ffrtmp certs`: make the cluster CA, issue worker/client certificates, inspect them."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ffrtmp.core.authz import ROLES
from ffrtmp.tls import pki

DIR_ENV = "FFRTMP_CERTS_DIR"
Handler = Callable[[argparse.Namespace], int]


def _certs_dir(args: argparse.Namespace) -> Path:
    # Resolved at run time, not at parser build time, so the env var is read per invocation.
    return Path(args.dir or os.environ.get(DIR_ENV) or "certs")


def _guarded(fn: Handler) -> Handler:
    """Turn expected failures into `error: ...` and exit code 2; a traceback helps no user
    who mistyped a path or forgot `certs init`."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    return run


def _wrote(paths: list[Path]) -> None:
    for p in paths:
        print(f"  {p}")


def _init(args: argparse.Namespace) -> int:
    d = _certs_dir(args)
    paths = pki.init_ca(d, hosts=args.host, days=args.days, force=args.force)
    print(f"created a CA and the master certificate in {d}:")
    written = [paths.ca_cert, paths.ca_key, paths.master_cert, paths.master_key]
    if not args.no_admin:
        # The CLI's default identity, so `ffrtmp jobs ...` works right after init.
        admin = pki.issue(d, "client", "admin", role="admin", days=args.days, force=args.force)
        written += [admin.cert, admin.key]
    _wrote(written)
    print("keep ca.key private: whoever holds it can mint certificates for the cluster")
    return 0


def _issue(args: argparse.Namespace) -> int:
    d = _certs_dir(args)
    role = getattr(args, "role", None)
    paths = pki.issue(d, args.kind, args.name, role=role, days=args.days, force=args.force)
    what = f"{args.kind} {args.name!r}" + (f" with role {role}" if role else "")
    print(f"issued a certificate for {what}:")
    _wrote([paths.cert, paths.key])
    print(f"give it {paths.cert.name}, {paths.key.name} and {pki.CA_CERT} (never {pki.CA_KEY})")
    return 0


def _issue_master(args: argparse.Namespace) -> int:
    d = _certs_dir(args)
    cert, key = d / pki.MASTER_CERT, d / pki.MASTER_KEY
    existing = [p for p in (cert, key) if p.exists()]
    if existing and not args.force:
        raise FileExistsError(f"{existing[0]} exists (add --force to replace it)")
    ca_cert, ca_key = pki.load_ca(d)
    paths = pki.write_master(ca_cert, ca_key, args.host, args.days, d)
    names = ", ".join(["localhost", "127.0.0.1", "::1", *args.host])
    print(f"issued a master certificate for {names} with the CA in {d}:")
    _wrote([paths.cert, paths.key])
    print("copy both to the master and send it SIGHUP (or restart it): new connections get "
          "the new certificate; workers and clients need nothing new")
    return 0


def _info_dict(info: pki.CertInfo, now: dt.datetime) -> dict[str, object]:
    return {
        "path": str(info.path),
        "subject": info.subject,
        "issuer": info.issuer,
        "common_name": info.common_name,
        "kind": info.kind,
        "role": info.role,
        "serial": f"{info.serial:x}",
        "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
        "days_left": info.days_left(now),
        "sans": list(info.sans),
    }


def _show(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    status = 0
    if getattr(args, "output", "table") == "json":
        found = []
        for file in args.files:
            try:
                found.append(_info_dict(pki.describe(Path(file)), now))
            except (OSError, ValueError) as e:
                print(f"error: {e}", file=sys.stderr)
                status = 2
        json.dump(found, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return status
    for i, file in enumerate(args.files):
        try:
            info = pki.describe(Path(file))
        except (OSError, ValueError) as e:
            # Keep going: one bad path should not hide the others asked for.
            print(f"error: {e}", file=sys.stderr)
            status = 2
            continue
        left = info.days_left(now)
        expiry = f"expires in {left} days" if left >= 0 else f"EXPIRED {-left} days ago"
        if i:
            print()
        print(f"{info.path}")
        print(f"  subject:  {info.subject}")
        print(f"  issuer:   {info.issuer}")
        print(f"  kind:     {info.kind}")
        print(f"  role:     {info.role or '-'}")
        print(f"  serial:   {info.serial:x}")
        when = "%Y-%m-%d %H:%M"
        print(f"  valid:    {info.not_before:{when}} to {info.not_after:{when}} UTC")
        print(f"  expiry:   {expiry}")
        print(f"  SANs:     {', '.join(info.sans) or '-'}")
    return status


def _common(p: argparse.ArgumentParser, *, force_help: str) -> None:
    p.add_argument(
        "--dir",
        help=f"certificate directory (default: ${DIR_ENV} or ./certs)",
    )
    p.add_argument(
        "--days",
        type=int,
        default=pki.DEFAULT_DAYS,
        help=f"validity in days (default: {pki.DEFAULT_DAYS})",
    )
    p.add_argument("--force", action="store_true", help=force_help)


def _hosts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="DNS name or IP the master is reached by from other machines (repeatable; "
        "clients check it); localhost, 127.0.0.1 and ::1 are always included",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `certs` command group to the top-level CLI parser."""
    certs = subparsers.add_parser("certs", help="manage the cluster's TLS certificates")
    sub = certs.add_subparsers(dest="certs_command", metavar="COMMAND", required=True)

    init = sub.add_parser(
        "init", help="create a CA, the master certificate and an admin client certificate"
    )
    _hosts(init)
    init.add_argument(
        "--no-admin",
        action="store_true",
        help="do not also issue the admin client certificate (admin.crt)",
    )
    _common(init, force_help="replace an existing CA (invalidates every issued certificate)")
    init.set_defaults(func=_guarded(_init))

    issue = sub.add_parser("issue", help="issue a worker, client or master certificate")
    kinds = issue.add_subparsers(dest="kind", metavar="KIND", required=True)
    worker = kinds.add_parser("worker", help="a worker node; NAME is its node id")
    client = kinds.add_parser("client", help="a CLI user or program with a role")
    for p in (worker, client):
        p.add_argument("name", metavar="NAME", help="letters, digits, '.', '_', '-'; max 64")
        _common(p, force_help="replace an existing NAME.crt/NAME.key")
        p.set_defaults(func=_guarded(_issue))
    client.add_argument("--role", required=True, choices=ROLES, help="what the client may do")
    master = kinds.add_parser(
        "master", help="a new master certificate from the existing CA, e.g. for more --host names"
    )
    _hosts(master)
    _common(master, force_help="replace the existing master.crt/master.key")
    master.set_defaults(func=_guarded(_issue_master))

    show = sub.add_parser("show", help="print what a certificate says and when it expires")
    show.add_argument("files", nargs="+", metavar="FILE", help="PEM certificate file(s)")
    show.set_defaults(func=_guarded(_show))
