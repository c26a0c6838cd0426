"""`ffrtmp scenarios list`, `ffrtmp config show` and `ffrtmp completion SHELL`."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from ffrtmp.cli import output
from ffrtmp.cli.context import client_from, wants_json


async def scenarios(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        items = await c.scenarios()
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "width": s.width,
            "height": s.height,
            "fps": s.fps,
            "codec": s.codec,
            "bitrate": s.bitrate,
            "live": s.live,
            "duration_s": s.duration_s,
            "preset": s.preset,
            "description": s.description,
        }
        for s in items
    ]
    if wants_json(args):
        output.print_json(rows)
        return 0
    t = Table(title="scenarios")
    for col in ("NAME", "SIZE", "FPS", "CODEC", "BITRATE", "KIND", "DURATION", "PRESET", "ABOUT"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["name"],
            f"{r['width']}x{r['height']}",
            f"{r['fps']:g}",
            r["codec"],
            r["bitrate"],
            "live" if r["live"] else "file",
            f"{r['duration_s']:g}s",
            r["preset"],
            r["description"],
        )
    Console(width=max(120, Console().width)).print(t)
    return 0


def config_show(args: argparse.Namespace) -> int:
    rows: list[tuple[str, Any, str]] = args.settings_sources(args)
    if wants_json(args):
        output.print_json({k: {"value": v, "source": s} for k, v, s in rows})
        return 0
    t = Table(title="settings")
    for col in ("SETTING", "VALUE", "FROM"):
        t.add_column(col)
    for key, value, source in rows:
        t.add_row(key, str(value), source)
    Console().print(t)
    return 0


def completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(args.root_parser, shell=args.shell))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("scenarios", help="the scenarios the master knows")
    sub = p.add_subparsers(dest="scenarios_command", metavar="COMMAND", required=True)
    sub.add_parser("list", help="every scenario, built in or from --scenarios").set_defaults(
        func=scenarios
    )
    p = subparsers.add_parser("config", help="the CLI's own settings")
    sub = p.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    sub.add_parser("show", help="each setting, its value and where it came from").set_defaults(
        func=config_show
    )
    p = subparsers.add_parser("completion", help="print a shell completion script")
    p.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    p.set_defaults(func=completion)
