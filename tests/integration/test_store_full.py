"""The master's database file may grow no further (its process's RLIMIT_FSIZE
lowered under it, as a full disk would refuse it): a submit gets UNAVAILABLE,
which clients retry, never INTERNAL; the master stays up and keeps nothing half
written; once the file may grow again, each refused request sent again is
stored exactly once."""

from __future__ import annotations

import asyncio
import resource
from collections import Counter
from pathlib import Path

import grpc
from grpc import aio

from ffrtmp.v1 import common_pb2, jobs_pb2, jobs_pb2_grpc
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import wait_job

LIMIT = 32 * 1024  # bytes: the WAL's first frames fit, a few dozen jobs do not


def _request(i: int) -> jobs_pb2.SubmitJobRequest:
    return jobs_pb2.SubmitJobRequest(
        spec=common_pb2.JobSpec(scenario="test"), request_id=f"full-{i}"
    )


async def test_a_database_that_cannot_grow_answers_unavailable_and_loses_nothing(
    tmp_path: Path,
) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        master = c.start_master()
        stored: list[str] = []
        refused: dict[str, str] = {}
        async with c.certs.client_channel(c.port) as ch:
            stub = jobs_pb2_grpc.JobServiceStub(ch)
            for i in range(3):
                stored.append((await stub.SubmitJob(_request(i))).job.request_id)
            unlimited = resource.RLIM_INFINITY  # the hard limit stays, so the soft can rise
            resource.prlimit(master.pid, resource.RLIMIT_FSIZE, (LIMIT, unlimited))
            for i in range(3, 400):
                try:
                    stored.append((await stub.SubmitJob(_request(i))).job.request_id)
                except aio.AioRpcError as e:
                    assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())
                    refused[f"full-{i}"] = e.details() or ""
                    if len(refused) >= 5:
                        break
            assert refused, "the database kept growing past its limit"
            assert all("database" in d and "try again" in d for d in refused.values()), refused
            assert master.popen.poll() is None  # still serving
            resource.prlimit(master.pid, resource.RLIMIT_FSIZE, (unlimited, unlimited))
            for rid in refused:  # sent again, as a client's retry would
                i = int(rid.removeprefix("full-"))
                stored.append((await stub.SubmitJob(_request(i))).job.request_id)
            jobs = (await stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=1000))).jobs
            by_request = Counter(j.request_id for j in jobs)
            assert sorted(by_request) == sorted(set(stored))
            assert set(by_request.values()) == {1}  # none stored twice
            for j in jobs:  # each whole: its row and its first event
                got = (await stub.GetJob(jobs_pb2.GetJobRequest(job_id=j.id))).job
                assert got.state == common_pb2.JOB_STATE_QUEUED
                assert [e.reason for e in got.events][:1] == ["submitted"], got.events
        assert "unexpected error" not in (tmp_path / "master.log").read_text()
    finally:
        c.stop()


async def test_a_result_the_database_cannot_keep_is_kept_later_not_run_again(
    tmp_path: Path,
) -> None:
    """The run ends while the master's database file may not grow: the result
    is not lost (the worker holds it until it is acknowledged) and the job is not
    run again once the database takes writes."""
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        master = c.start_master()
        c.start_worker("a", "--no-store-outputs")
        await c.wait_nodes(1)
        spec = common_pb2.JobSpec(scenario="test", live=True, duration_s=4, output="r.mp4")
        async with c.client() as cl:
            job_id = (await cl.submit(spec)).job.id
        await wait_job(c, job_id, lambda j: j.state == common_pb2.JOB_STATE_RUNNING,
                       timeout=60, what="running")
        unlimited = resource.RLIM_INFINITY
        resource.prlimit(master.pid, resource.RLIMIT_FSIZE, (LIMIT, unlimited))
        log = tmp_path / "master.log"
        deadline = asyncio.get_running_loop().time() + 60
        while "SQLite: " not in log.read_text():  # the result's commit refused
            assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        resource.prlimit(master.pid, resource.RLIMIT_FSIZE, (unlimited, unlimited))
        job = await wait_job(c, job_id, lambda j: j.state == common_pb2.JOB_STATE_SUCCEEDED,
                             timeout=60, what="succeeded")
        assert (job.attempt, job.lost_attempts) == (1, 0), job
        assert master.popen.poll() is None
    finally:
        c.stop()
