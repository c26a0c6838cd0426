"""Where the CLI's connection settings come from: a flag, else its FFRTMP_…
environment twin, else the config file, else the built-in default.

The config file is $FFRTMP_CONFIG, or $XDG_CONFIG_HOME/ffrtmp/config.toml, or
~/.config/ffrtmp/config.toml. Relative certificate paths in it are relative to
the file's own directory.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any

from ffrtmp import flags

KEYS = ("master", "ca", "cert", "key", "api_key", "output", "timeout")
PATH_KEYS = ("ca", "cert", "key")


def config_path() -> Path:
    explicit = os.environ.get("FFRTMP_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ffrtmp" / "config.toml"


def load(path: Path) -> dict[str, Any]:
    """The file's settings; {} when there is no file. ValueError names the problem."""
    if not path.exists():
        return {}
    try:
        doc = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    unknown = set(doc) - set(KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown settings {sorted(unknown)}; known: {', '.join(KEYS)}")
    out = dict(doc)
    for key in PATH_KEYS:
        if key in out:
            out[key] = str((path.parent / str(out[key])).expanduser())
    if "timeout" in out:
        out["timeout"] = flags.duration(str(out["timeout"]))
    return out


def apply(parser: argparse.ArgumentParser, settings: dict[str, Any]) -> None:
    """Config values become defaults, except where the environment already set one."""
    parser.set_defaults(
        **{k: v for k, v in settings.items() if not os.environ.get(flags.env_name(f"--{k}"))}
    )


def sources(
    args: argparse.Namespace, defaults: dict[str, Any], settings: dict[str, Any], path: Path
) -> list[tuple[str, Any, str]]:
    """(setting, value, where it came from) for `ffrtmp config show`."""
    rows = []
    for key in KEYS:
        value = getattr(args, key)
        env = flags.env_name(f"--{key}")
        if os.environ.get(env):
            source = f"env {env}"
        elif key in settings:
            source = f"config {path}"
        else:
            source = "default"
        if (value != defaults.get(key) and source == "default") or (
            source != "default" and value != _expected(key, env, settings)
        ):
            source = "flag"
        if key == "api_key" and value:
            value = value[:8] + "…"  # never print a secret whole
        rows.append((key, value, source))
    return rows


def _expected(key: str, env: str, settings: dict[str, Any]) -> Any:
    raw = os.environ.get(env)
    if raw:
        return flags.duration(raw) if key == "timeout" else raw
    return settings.get(key)
