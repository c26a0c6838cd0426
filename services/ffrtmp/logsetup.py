"""Process-wide logging set-up for the daemons: human text or JSON lines.

JSON lines carry time, level, logger and message, plus job_id, node_id and
attempt when the line is about a job (given with `extra=` or bound by
`ffrtmp.logcontext`), and the traceback as `exc` when there is one.

In JSON mode every line a daemon writes is JSON: the ready line (`ready`), and
the lines grpc's C core writes straight to file descriptor 2, which come back
through a pipe and leave as records of the logger `grpc.core`."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import threading
from typing import TextIO

from ffrtmp.logcontext import FIELDS, ContextFilter

FORMATS = ("text", "json")
# C0 and C1 controls and DEL, shown as \xNN: a name or reason holding a newline
# or a terminal escape cannot forge or hide a log line.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def escape(text: str) -> str:
    return text.translate(_CONTROLS)


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

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = [
            f"{n}={escape(str(v))}"
            for n in FIELDS
            if (v := getattr(record, n, None)) not in (None, "")
        ]
        if not extra:
            return line
        head, sep, tail = line.partition("\n")  # keep tracebacks after the fields
        return f"{head} [{' '.join(extra)}]{sep}{tail}"


_format = "text"
# grpc's own line: "E1129 22:54:36.220539   12647 file.cc:1569] message".
_NATIVE = re.compile(r"^([EWID])\d{4} [\d:.]+\s+\d+ \S+\] (.*)$")
_NATIVE_LEVELS = {"E": logging.ERROR, "W": logging.WARNING, "I": logging.INFO, "D": logging.DEBUG}


def setup(level: str = "info", fmt: str = "text") -> None:
    global _format
    _format = fmt
    stream: TextIO = sys.stderr
    if fmt == "json":
        stream = _capture_native_stderr()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Neither format shows the caller's file and line, the thread or the process:
    # not looking them up for every record takes a third off each line's cost
    # (the master writes one per finished attempt).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def ready(message: str) -> None:
    """The line that tells a supervisor (or a test) the daemon is up, on stdout,
    in the chosen format; the message is kept whole, so `ready port=N` still matches."""
    if _format == "json":
        record = logging.LogRecord("ffrtmp.ready", logging.INFO, __file__, 0, message, (), None)
        message = JsonFormatter().format(record)
    print(message, flush=True)


def _capture_native_stderr() -> TextIO:
    """Point fd 2 at a pipe whose lines become log records; return a stream on the
    original stderr for the handler (and for Python's own last words at a crash)."""
    original = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    sys.stderr = original
    threading.Thread(target=_pump, args=(read_fd,), name="native-stderr", daemon=True).start()
    return original


def _pump(read_fd: int) -> None:
    log = logging.getLogger("grpc.core")
    with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            text = line.rstrip("\n")
            if not text.strip():
                continue
            m = _NATIVE.match(text)
            level, message = (_NATIVE_LEVELS[m.group(1)], m.group(2)) if m else (logging.INFO, text)
            log.log(level, "%s", message)
