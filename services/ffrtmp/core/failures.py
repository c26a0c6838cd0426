"""Classify a failed ffmpeg run as transient (worth a retry) or permanent.

Rules, in order:

1. Killed by a signal (negative exit code, as asyncio reports it): SIGKILL, SIGTERM,
   SIGINT, SIGHUP and SIGPIPE come from outside the job (OOM killer, host shutdown, a
   closed pipe), so they are transient. Crash signals (SIGSEGV, SIGABRT, SIGBUS, ...)
   usually mean the input trips a decoder bug, which a retry would only repeat, so they
   are permanent. Runs we cancel or fence ourselves never get here: the runner reports
   them CANCELED without asking.
2. Otherwise the log tail decides: the *last* line that matches a known pattern wins,
   because ffmpeg prints the root cause and then generic summaries of it.
3. Nothing recognised: permanent. Retrying an unknown failure burns a worker slot per
   attempt; an operator can always RetryJob by hand.

Some transient causes say that the far end is not there (nobody listens on the RTMP
port, the server cuts the file short, the name does not resolve) rather than that the
network hiccuped. One retry is worth it; when the same cause ends the next attempt
too, more retries would only repeat it for minutes (`repeat_key`, used by core.retry).
"""

from __future__ import annotations

import re
import signal
from typing import Literal

FailureClass = Literal["transient", "permanent"]

TRANSIENT_SIGNALS = frozenset(
    {signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE}
)

_TRANSIENT = (
    r"connection refused",
    r"connection reset",
    r"timed out|\btimeout\b",
    r"broken pipe",
    r"temporary failure|temporarily unavailable",
    r"network (is )?unreachable|host is unreachable|no route to host",
    r"no such host|name or service not known|could not resolve|failed to resolve",
    r"rtmp handshake|handshake response",
    r"server returned 5(\d\d|xx)",
    r"node lost",
    r"\bstall",
    # ffmpeg exits 255 after catching SIGINT/SIGTERM from someone other than us.
    r"received signal",
)
_PERMANENT = (
    r"no such file or directory",
    r"invalid data found",
    r"unknown (encoder|decoder)",
    r"(encoder|decoder)\b.*not found",
    r"invalid argument",
    r"permission denied",
    r"unrecognized option|option not found",
    r"does not contain any stream",
    r"server returned 4(\d\d|xx)",
)
# Errors that are transient only when the run talks to the network: an I/O error or EOF
# on a local file is a bad file, on rtmp:// it is a peer that went away.
_NETWORK_ONLY = r"input/output error|end of file"
_NETWORK_URL = re.compile(r"\b(rtmps?|srt|https?|tcp|udp|rtp|rtsp)://", re.IGNORECASE)

# Permanent first: a line like "Unrecognized option 'timeout'" names a transient word.
_RULES: tuple[tuple[re.Pattern[str], FailureClass], ...] = (
    *((re.compile(p, re.IGNORECASE), "permanent") for p in _PERMANENT),
    *((re.compile(p, re.IGNORECASE), "transient") for p in _TRANSIENT),
)
_NETWORK_ONLY_RE = re.compile(_NETWORK_ONLY, re.IGNORECASE)


def classify(exit_code: int, log_tail: str) -> FailureClass:
    if exit_code < 0:
        return "transient" if -exit_code in TRANSIENT_SIGNALS else "permanent"
    networked = _NETWORK_URL.search(log_tail) is not None
    for line in reversed(log_tail.splitlines()):
        verdict = classify_line(line, networked=networked)
        if verdict is not None:
            return verdict
    return "permanent"


def classify_line(line: str, *, networked: bool = False) -> FailureClass | None:
    """The class one log line points to, None when it says nothing we know."""
    for pattern, verdict in _RULES:
        if pattern.search(line):
            return verdict
    if networked and _NETWORK_ONLY_RE.search(line):
        return "transient"
    return None


# Causes that, repeated on consecutive attempts of one job, mean the input or output is
# missing, not flaky. Keys, not whole lines: lines carry addresses that change per run.
_REPEAT_FINAL: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (key, re.compile(p, re.IGNORECASE))
    for key, p in (
        ("connection refused", r"connection refused"),
        ("stream ends prematurely", r"stream ends prematurely"),
        ("unknown host", r"no such host|name or service not known|could not resolve|"
                         r"failed to resolve"),
        ("server error", r"server returned 5(\d\d|xx)"),
        ("end of file", r"end of file"),
        ("input/output error", r"input/output error"),
    )
)


def repeat_key(error: str) -> str | None:
    """The cause an error line names, when a repeat of it should end the retries."""
    for key, pattern in _REPEAT_FINAL:
        if pattern.search(error):
            return key
    return None
