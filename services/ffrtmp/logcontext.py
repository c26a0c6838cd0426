"""Job fields for log lines that do not pass them: a context variable read by a
logging filter.

A worker runs each job in its own asyncio task, and a task copies the context
it is created in; binding job_id and attempt at the top of that task puts them
on every line logged while it runs (the ffmpeg runner's included), with no
change to those log calls. Fields given with `extra=` win over bound ones."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

FIELDS = ("job_id", "node_id", "attempt")

# Immutable pairs: a context variable's default is shared by every context.
_bound: contextvars.ContextVar[tuple[tuple[str, Any], ...]] = contextvars.ContextVar(
    "ffrtmp_log", default=()
)
_process: dict[str, Any] = {}  # e.g. the worker's node id once the master named it


def set_process_field(name: str, value: Any) -> None:
    _process[name] = value


def _merged(fields: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple({**dict(_bound.get()), **fields}.items())


def bind(**fields: Any) -> None:
    """Add fields for the rest of the current task (or thread)."""
    _bound.set(_merged(fields))


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    token = _bound.set(_merged(fields))
    try:
        yield
    finally:
        _bound.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for source in (dict(_bound.get()), _process):
            for name in FIELDS:
                if name in source and not hasattr(record, name):
                    setattr(record, name, source[name])
        return True
