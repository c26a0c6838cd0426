"""Flags with environment twins: every `--some-flag` can also be set as
FFRTMP_SOME_FLAG, and `--help` says so. The flag wins over the environment."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from ffrtmp.core.durations import parse_duration
from ffrtmp.logsetup import FORMATS


def env_name(flag: str) -> str:
    return "FFRTMP_" + flag.lstrip("-").upper().replace("-", "_")


def duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add(
    parser: argparse.ArgumentParser | Any,
    flag: str,
    *aliases: str,
    help: str,
    default: Any = None,
    type: Callable[[str], Any] | None = None,
    env: str | None = None,
    **kwargs: Any,
) -> None:
    name = env or env_name(flag)
    if kwargs.get("action") == "store_true" and default is None:
        default = False  # a switch left off is False, never None
    raw = os.environ.get(name)
    if raw is not None and raw != "":
        if kwargs.get("action") in ("store_true", "store_false"):
            default = raw.lower() in ("1", "true", "yes", "on")
        elif kwargs.get("nargs") in ("*", "+"):
            default = [type(v) if type else v for v in raw.split(",") if v]
        else:
            default = type(raw) if type else raw
    shown = f" (default: {default})" if default not in (None, False, []) else ""
    if type is not None:
        kwargs["type"] = type
    parser.add_argument(
        flag, *aliases, default=default, help=f"{help}{shown} [env {name}]", **kwargs
    )


def add_log_flags(parser: argparse.ArgumentParser) -> None:
    """What both daemons log and trace: the same flags on each."""
    add(parser, "--log-format", default="text", choices=list(FORMATS), help="log line format")
    add(
        parser,
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="log level",
    )
    add(
        parser,
        "--trace-exporter",
        default="none",
        choices=["none", "console", "otlp"],
        help="OpenTelemetry span exporter (needs the ffrtmp[otel] extra)",
    )
