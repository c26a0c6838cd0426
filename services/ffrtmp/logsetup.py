"""Process-wide logging set-up for the daemons."""

from __future__ import annotations

import logging
import sys


def setup(level: str = "info") -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
