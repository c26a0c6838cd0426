"""Process-wide logging set-up for the daemons: human text or JSON lines.

JSON lines carry time, level, logger and message, plus job_id, node_id and
attempt when the line is about a job (given with `extra=` or bound by
`ffrtmp.logcontext`), and the traceback as `exc` when there is one."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

from ffrtmp.logcontext import FIELDS, ContextFilter

FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                out[name] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the job fields appended when present."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = [f"{n}={v}" for n in FIELDS if (v := getattr(record, n, None)) not in (None, "")]
        if not extra:
            return line
        head, sep, tail = line.partition("\n")  # keep tracebacks after the fields
        return f"{head} [{' '.join(extra)}]{sep}{tail}"


def setup(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
