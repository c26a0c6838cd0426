"""A log line is one line: control characters in what is logged are escaped."""

from __future__ import annotations

import json
import logging

from ffrtmp.logsetup import JsonFormatter, TextFormatter


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    r = logging.LogRecord("ffrtmp.master", logging.INFO, __file__, 1, msg, args, None)
    for k, v in extra.items():
        setattr(r, k, v)
    return r


def test_text_lines_escape_newlines_and_terminal_escapes() -> None:
    forged = "eve\n2026-01-01 00:00:00,000 INFO ffrtmp.master: job x: RUNNING -> SUCCEEDED"
    line = TextFormatter().format(_record("node %s connected", forged, node_id="a\rb"))
    assert "\n" not in line and "\r" not in line
    assert "eve\\x0a2026" in line and "node_id=a\\x0db" in line
    assert "\x1b" not in TextFormatter().format(_record("reason %s", "\x1b[2Kclean"))


def test_json_lines_stay_one_object() -> None:
    line = JsonFormatter().format(_record("node %s", "eve\nforged"))
    assert "\n" not in line and json.loads(line)["message"] == "node eve\nforged"
