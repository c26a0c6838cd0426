"""Small pieces of the CLI's views: the note beside each job, the watch line."""

from __future__ import annotations

from ffrtmp.cli.output import NOTE_CHARS, job_note


def _job(state: str, error: str = "", pending: str = "") -> dict[str, str]:
    return {"state": state, "error": error, "pending_reason": pending}


def test_the_note_is_the_error_with_its_cause_kept_or_why_the_job_waits() -> None:
    refused = ("[out#0/flv @ 0x5609] Error opening output rtmp://ingest.example.net:1935/"
               "live/a-long-stream-key: Connection refused")
    note = job_note(_job("FAILED", refused))
    assert note.endswith("Connection refused") and len(note) == NOTE_CHARS
    assert not note.startswith("…[out#0")
    assert job_note(_job("FAILED", "[x @ 0x1] Invalid data")) == "Invalid data"
    assert job_note(_job("QUEUED", pending="no connected worker offers gpu")) == (
        "no connected worker offers gpu")
    assert job_note(_job("SUCCEEDED", "old error of attempt 1")) == ""


def test_a_job_waiting_to_retry_shows_its_last_error_while_watched() -> None:
    from ffrtmp.cli.watch import _status
    from ffrtmp.v1 import common_pb2

    job = common_pb2.Job(id="j1", state=common_pb2.JOB_STATE_RETRY_WAIT, attempt=1,
                         error="[tcp @ 0x55] Connection to tcp://h:1935 failed: Connection refused")
    assert _status(job).endswith("last error: Connection to tcp://h:1935 failed: Connection "
                                 "refused")
