"""Each daemon's flags default to its config dataclass's own values: with no flag
and no environment, config_from(parse_args()) is the default config."""

from __future__ import annotations

import os

import pytest

from ffrtmp.master import main as master_main
from ffrtmp.master.config import MasterConfig
from ffrtmp.worker import main as worker_main
from ffrtmp.worker.config import WorkerConfig


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FFRTMP_"):
            monkeypatch.delenv(name)


def test_the_master_flags_default_to_the_config() -> None:
    args = master_main.parser().parse_args([])
    assert master_main.config_from(args) == MasterConfig()


def test_the_worker_flags_default_to_the_config() -> None:
    args = worker_main.parser().parse_args(["--master", "m:50051"])
    assert worker_main.config_from(args) == WorkerConfig(master="m:50051")
