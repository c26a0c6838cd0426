"""Shared fixtures. Integration tests get a real master and real workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cluster import Cluster, running_cluster
from tests.helpers.media import SETTING, build_name, ffmpeg_under_test

# The throwaway PostgreSQL fixtures (`postgres`, `pg_dsn`).
pytest_plugins = ["tests.helpers.postgres"]


SERIAL_DIRS = ("faults",)  # tests that measure timing, or load the whole host


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what must run alone `serial`: `make test` runs the rest on several
    processes (pytest-xdist) and these afterwards, one at a time. Integration
    tests come first: xdist hands tests out in this order, so the long ones
    start at once and the many short unit tests fill the gaps at the end."""
    for item in items:
        if item.path.parent.name in SERIAL_DIRS:
            item.add_marker(pytest.mark.serial)
    items.sort(key=lambda item: item.path.parent.name != "integration")  # stable


def pytest_report_header() -> str:
    # Which build every ffmpeg run and worker of this session uses.
    return f"ffmpeg: {build_name()} ({ffmpeg_under_test()}; choose with {SETTING})"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master with two workers, shared by the tests of one module."""
    root: Path = tmp_path_factory.mktemp("cluster")
    with running_cluster(root, workers=2) as c:
        yield c
