"""The master's scenario catalog: the built-in scenarios, with those of a TOML
file (--scenarios) over them. I/O and parsing stay here, out of the pure core."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import replace
from pathlib import Path

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.scenarios import BUILTIN, Scenario
from ffrtmp.core.spec import RawSpec, resolve


def _field_types() -> dict[str, type | tuple[type, ...]]:
    """What a TOML key may hold, from the Scenario dataclass itself (a float field
    takes a TOML integer too)."""
    hints = typing.get_type_hints(Scenario)
    out: dict[str, type | tuple[type, ...]] = {}
    for f in dataclasses.fields(Scenario):
        if f.name != "name":
            kind = hints[f.name]
            out[f.name] = (int, float) if kind is float else kind
    return out


FIELDS = _field_types()


def load(path: Path | None) -> dict[str, Scenario]:
    """The catalog a master serves; ValueError names the scenario and key at fault."""
    return dict(BUILTIN) if path is None else parse(path.read_text(), BUILTIN)


def parse(text: str, base: dict[str, Scenario] | None = None) -> dict[str, Scenario]:
    """Scenarios from a TOML document, over `base` (the built-ins by default).

    Each `[scenarios.NAME]` table may set any Scenario field but the name; a name
    that is built in starts from the built-in values, a new one from the `test`
    scenario's. ValueError says what is wrong, naming the scenario and key. Values
    are checked like a job's own fields, so a scenario that no job could use is
    refused when the master starts, not at the first submit.
    """
    catalog = dict(BUILTIN if base is None else base)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    extra = set(doc) - {"scenarios"}
    if extra:
        raise ValueError(f"unknown top-level keys {sorted(extra)}; expected [scenarios.NAME]")
    for name, table in (doc.get("scenarios") or {}).items():
        if not isinstance(table, dict):
            raise ValueError(f"scenarios.{name} must be a table")
        if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
            raise ValueError(f"scenario name {name!r}: letters, digits, '-', '_' or '.'")
        for key, value in table.items():
            _check_key(name, key, value)
        start = catalog.get(name, replace(BUILTIN["test"], description=""))
        catalog[name] = replace(start, name=name, **table)
        try:
            resolve(RawSpec(scenario=name), catalog)
        except InvalidArgument as exc:
            field = exc.field.removeprefix("spec.")
            problem = exc.message.removeprefix(f"{exc.field}: ")
            raise ValueError(f"scenarios.{name}.{field}: {problem}") from None
    return catalog


def _check_key(name: str, key: str, value: object) -> None:
    kind = FIELDS.get(key)
    if kind is None:
        raise ValueError(f"scenarios.{name}: unknown key {key!r} (known: {', '.join(FIELDS)})")
    # bool is an int to Python, never to a scenario.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"scenarios.{name}.{key}: wrong type {type(value).__name__}")
