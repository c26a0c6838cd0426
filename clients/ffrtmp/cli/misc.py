"""`ffrtmp scenarios list`, `ffrtmp config show` and `ffrtmp completion SHELL`."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from ffrtmp.cli import output
from ffrtmp.cli.context import client_from, wants_json
from ffrtmp.cli.media_output import message_dict


async def scenarios(args: argparse.Namespace) -> int:
    async with client_from(args) as c:
        items = await c.scenarios()
    rows = [message_dict(s) for s in items]
    if wants_json(args):
        output.print_json(rows)
        return 0
    t = Table(title="scenarios")
    columns = ("NAME", "SIZE", "FPS", "CODEC", "BITRATE", "GOP", "AUDIO", "KIND", "DURATION")
    for col in (*columns, "PRESET", "ABOUT"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["name"],
            f"{r['width']}x{r['height']}",
            f"{r['fps']:g}",
            r["codec"],
            r["bitrate"] + (f" (max {r['maxrate']}/{r['bufsize']})" if r["maxrate"] else ""),
            f"{r['gop_s']:g}s" if r["gop_s"] else "-",
            _audio(r),
            "live" if r["live"] else "file",
            f"{r['duration_s']:g}s",
            r["preset"] + (f" ({r['tune']})" if r["tune"] else ""),
            r["description"],
        )
    Console(width=max(180, Console().width)).print(t)
    return 0


def _audio(r: dict[str, Any]) -> str:
    if r["audio_codec"] in ("", "none"):
        return r["audio_codec"] or "-"
    rate = f"{r['audio_sample_rate'] / 1000:g}kHz" if r["audio_sample_rate"] else ""
    channels = f"{r['audio_channels']}ch" if r["audio_channels"] else ""
    parts = (r["audio_codec"], r["audio_bitrate"], rate, channels)
    return " ".join(p for p in parts if p)


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
