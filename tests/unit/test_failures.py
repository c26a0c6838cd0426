"""classify(): which failures are worth a retry."""

from __future__ import annotations

import signal

import pytest

from ffrtmp.core.failures import classify

# Tails captured from ffmpeg 9.0 (addresses shortened).
RTMP_REFUSED = """\
[rtmp @ 0x5609] Cannot open connection tcp://127.0.0.1:1?tcp_nodelay=0
[out#0/flv @ 0x5609] Error opening output rtmp://127.0.0.1:1/live/x: Connection refused
Error opening output file rtmp://127.0.0.1:1/live/x.
Error opening output files: Connection refused"""
RTMP_EOF = """\
[rtmp @ 0x5635] Cannot read RTMP handshake response
[out#0/flv @ 0x5635] Error opening output rtmp://127.0.0.1:19350/live/x: End of file
Error opening output file rtmp://127.0.0.1:19350/live/x.
Error opening output files: End of file"""
NO_HOST = """\
[tcp @ 0x55a1] Failed to resolve hostname nonexistent.invalid: Name or service not known
[rtmp @ 0x55a1] Cannot open connection tcp://nonexistent.invalid:1935?tcp_nodelay=0
[out#0/flv @ 0x55a1] Error opening output rtmp://nonexistent.invalid/live/x: Input/output error
Error opening output files: Input/output error"""
SRT_IO = """\
[srt @ 0x562d] Connection to srt://127.0.0.1:9?mode=caller failed: Input/output error
Error opening output files: Input/output error"""
MISSING_INPUT = """\
[in#0 @ 0x55b8] Error opening input: No such file or directory
Error opening input file /nonexist.mp4.
Error opening input files: No such file or directory"""
BAD_DATA = """\
[in#0 @ 0x5582] Error opening input: Invalid data found when processing input
Error opening input files: Invalid data found when processing input"""
BAD_PRESET = """\
[vost#0:0/libx264 @ 0x5562] Terminating thread with return code -22 (Invalid argument)
[out#0/mp4 @ 0x5562] Nothing was written into output file, because at least one of its \
streams received no packets.
Conversion failed!"""


@pytest.mark.parametrize(
    ("exit_code", "tail", "expected"),
    [
        # Real ffmpeg tails.
        (187, RTMP_REFUSED, "transient"),
        (187, RTMP_EOF, "transient"),
        (251, NO_HOST, "transient"),
        (251, SRT_IO, "transient"),
        (254, MISSING_INPUT, "permanent"),
        (183, BAD_DATA, "permanent"),
        (234, BAD_PRESET, "permanent"),
        # One line per transient pattern, any case.
        (1, "Connection reset by peer", "transient"),
        (1, "Operation timed out", "transient"),
        (1, "rw timeout reached", "transient"),
        (1, "av_interleaved_write_frame(): Broken pipe", "transient"),
        (1, "Temporary failure in name resolution", "transient"),
        (1, "Resource temporarily unavailable", "transient"),
        (1, "Network is unreachable", "transient"),
        (1, "network unreachable", "transient"),
        (1, "No route to host", "transient"),
        (1, "no such host", "transient"),
        (1, "Could not resolve host", "transient"),
        (1, "Server returned 503 Service Unavailable", "transient"),
        (1, "Server returned 5XX Server Error reply", "transient"),
        (1, "node lost", "transient"),
        (1, "input STALLED for 60s", "transient"),
        (255, "Exiting normally, received signal 15.", "transient"),
        # One line per permanent pattern.
        (1, "Unknown encoder 'libfoo'", "permanent"),
        (1, "Error opening output files: Encoder not found", "permanent"),
        (1, "Decoder (codec hevc) not found for input stream #0:0", "permanent"),
        (1, "Error opening output /x.mp4: Permission denied", "permanent"),
        (1, "Unrecognized option 'frobnicate'.", "permanent"),
        (1, "Error splitting the argument list: Option not found", "permanent"),
        (1, "Output file does not contain any stream", "permanent"),
        (1, "Server returned 404 Not Found", "permanent"),
        # Permanent wins within a line: the option name is not a network timeout.
        (1, "Unrecognized option 'timeout'.", "permanent"),
        # I/O error or EOF is transient only when the run touches the network.
        (1, "Error opening input files: Input/output error", "permanent"),
        (1, "[in#0] /data/a.mp4: End of file", "permanent"),
        # The last matching line wins.
        (1, "Connection refused\nError opening input: No such file or directory", "permanent"),
        (1, "No such file or directory\nthen: Connection reset by peer", "transient"),
        # Nothing recognised, or nothing at all.
        (1, "Conversion failed!", "permanent"),
        (1, "", "permanent"),
        (69, "something odd happened", "permanent"),
        # Killed by a signal (asyncio's negative return codes).
        (-signal.SIGKILL, "", "transient"),
        (-signal.SIGTERM, "No such file or directory", "transient"),
        (-signal.SIGINT, "", "transient"),
        (-signal.SIGHUP, "", "transient"),
        (-signal.SIGPIPE, "", "transient"),
        (-signal.SIGSEGV, "Connection refused", "permanent"),
        (-signal.SIGABRT, "", "permanent"),
        (-signal.SIGBUS, "", "permanent"),
    ],
)
def test_classify(exit_code: int, tail: str, expected: str) -> None:
    assert classify(exit_code, tail) == expected
