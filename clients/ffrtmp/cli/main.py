"""`ffrtmp`, the command line. grpc's C core reads GRPC_VERBOSITY once, when grpc
is first imported, and then prints its own lines (handshake failures, invalid
keys) before our message: so this entry quiets it, unless --debug, before
importing the CLI itself (ffrtmp.cli.app), which loads grpc."""

from __future__ import annotations

import argparse
import os
import sys


def quiet_grpc(argv: list[str]) -> None:
    if "grpc" in sys.modules:  # too late to matter here; do not leak it to children
        return
    os.environ.setdefault("GRPC_VERBOSITY", "INFO" if "--debug" in argv else "NONE")


def main(argv: list[str] | None = None) -> int:
    quiet_grpc(sys.argv[1:] if argv is None else argv)
    from ffrtmp.cli import app

    return app.main(argv)


def parser() -> argparse.ArgumentParser:
    from ffrtmp.cli import app

    return app.parser()


if __name__ == "__main__":
    sys.exit(main())
