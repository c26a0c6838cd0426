"""The certificate deny list: serial numbers, one per line, in hex as `ffrtmp
certs show` prints them (an optional 0x and colons are fine); `#` starts a
comment."""

from __future__ import annotations

from pathlib import Path


def parse(text: str) -> frozenset[int]:
    serials = set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip().replace(":", "")
        if not line:
            continue
        try:
            serials.add(int(line.lower().removeprefix("0x"), 16))
        except ValueError:
            raise ValueError(f"line {n}: {raw.strip()!r} is not a serial number") from None
    return frozenset(serials)


def load(path: Path | None) -> frozenset[int]:
    return parse(path.read_text()) if path is not None else frozenset()
