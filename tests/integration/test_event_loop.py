"""The master runs on the loop --event-loop names and serves a submit on each;
auto is uvloop where the fast extra is installed (as in the dev environment)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


@pytest.mark.parametrize(
    ("flag", "loop"),
    [
        pytest.param((), "uvloop", marks=pytest.mark.skipif(not HAVE_UVLOOP, reason="no uvloop")),
        pytest.param(("--event-loop", "asyncio"), "asyncio"),
    ],
)
async def test_master_serves_on_the_chosen_loop(
    tmp_path: Path, flag: tuple[str, ...], loop: str
) -> None:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        master = c.start_master(*flag)
        master.wait_for(rf"event loop: {loop}\b", 5)
        async with c.client() as client:
            resp = await client.submit(common_pb2.JobSpec(scenario="test"))
            assert resp.created
            assert (await client.get(resp.job.id)).state == common_pb2.JOB_STATE_QUEUED
    finally:
        c.stop()
