"""An s3:// job's success: the current attempt's files are copied to their keys
before SUCCEEDED is recorded, a stale attempt copies nothing, and a failed copy
is a transient failure. The in-process scheduler (tests/helpers/sched.py) with a
recording stand-in for the buckets; the copies themselves run against a real
S3 server in tests/integration/test_s3_outputs.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ffrtmp.core.errors import Unavailable
from ffrtmp.core.model import Artifact, JobState, Lease, Outcome, OutputInfo
from ffrtmp.core.s3_output import parse_s3_output
from ffrtmp.master.storage.blobs.config import BlobConfig
from tests.helpers.sched import SchedHarness

OUTPUT = "s3://media/films/clip.mp4"
TIMEOUT = 120.0


class Buckets:
    """Records the copies asked for; `down` makes them fail as a store would."""

    def __init__(self) -> None:
        self.stores = {"media": object()}
        self.copied: list[tuple[str, str]] = []  # (attempt's blob, final key)
        self.forgotten: list[str] = []
        self.down = False

    async def commit(self, output: str, artifacts: Sequence[Artifact]) -> tuple[Artifact, ...]:
        if self.down:
            raise Unavailable("the object store is unreachable")
        target = parse_s3_output(output)
        self.copied += [(a.resource, target.key(a.name)) for a in artifacts]
        return tuple(replace(a, resource=target.url(a.name)) for a in artifacts)

    async def forget(self, job_id: str) -> int:
        self.forgotten.append(job_id)
        return 0


def _info(lease: Lease) -> OutputInfo:
    name = f"jobs/{lease.job_id}/attempts/{lease.attempt}/clip.mp4"
    return OutputInfo("mp4", 1.0, 10, artifacts=(Artifact("clip.mp4", 10, "cd" * 32,
                                                          "video/mp4", name),))


def _harness(tmp_path: Path) -> tuple[SchedHarness, Buckets]:
    h = SchedHarness(tmp_path, blobs=BlobConfig(output_buckets=("media",)))
    buckets = Buckets()
    h.scheduler.attempts.st.outputs = buckets  # type: ignore[assignment]
    return h, buckets


async def test_the_winner_is_copied_before_success_and_a_stale_attempt_never(
    tmp_path: Path,
) -> None:
    h, buckets = _harness(tmp_path)
    async with h:
        a = h.worker("a")
        job = await h.submit(output=OUTPUT)
        await h.settle()
        first = a.assigned()[-1]
        await a.started(first)
        b = h.worker("b")
        await h.tick(TIMEOUT + 1, beating=["b"])  # a is lost; b runs attempt 2
        second = b.assigned()[-1]
        await b.started(second)
        await a.result(first, output_info=_info(first))  # stale: refused
        assert buckets.copied == [] and (await h.job(job.id)).state is JobState.RUNNING
        await b.result(second, output_info=_info(second))
        got = await h.job(job.id)
        assert got.state is JobState.SUCCEEDED and got.output == OUTPUT
        assert buckets.copied == [(f"jobs/{job.id}/attempts/2/clip.mp4", "films/clip.mp4")]
        assert got.output_info is not None
        (art,) = got.output_info.artifacts
        assert art.resource == "s3://media/films/clip.mp4" and art.sha256 == "cd" * 32
        assert buckets.forgotten == [job.id]  # the attempts' uploads are dropped


async def test_a_copy_that_fails_is_a_transient_failure(tmp_path: Path) -> None:
    h, buckets = _harness(tmp_path)
    async with h:
        a = h.worker("a")
        job = await h.submit(output=OUTPUT)
        await h.settle()
        lease = a.assigned()[-1]
        await a.started(lease)
        buckets.down = True
        await a.result(lease, output_info=_info(lease))
        got = await h.job(job.id)
        assert got.state is JobState.RETRY_WAIT, got.state
        reason = got.events[-1].reason
        assert "s3://media/films/clip.mp4" in reason and "unreachable" in reason
        # No files listed for an S3 output is not a success either.
        buckets.down = False
        await h.tick(600, beating=["a"])
        again = a.assigned()[-1]
        await a.started(again)
        await a.result(again, Outcome.SUCCEEDED)
        assert (await h.job(job.id)).state is JobState.RETRY_WAIT
        assert buckets.copied == []
