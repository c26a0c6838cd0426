"""Shared fixtures. Integration tests get a real master and real workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cluster import Cluster, running_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master with two workers, shared by the tests of one module."""
    root: Path = tmp_path_factory.mktemp("cluster")
    with running_cluster(root, workers=2) as c:
        yield c
