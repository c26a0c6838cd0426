"""tls.diagnose.check_files: what the CLI says about its own files before dialing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ffrtmp.tls import pki
from ffrtmp.tls.diagnose import SetupError, check_files


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    ours, theirs = tmp_path_factory.mktemp("ours"), tmp_path_factory.mktemp("theirs")
    for d in (ours, theirs):
        pki.init_ca(d)
        pki.issue(d, "client", "alice", role="viewer")
    return ours, theirs


def _check(ca: Path, cert: Path, key: Path, now: dt.datetime | None = None) -> str:
    # The time of the check, not of collection: a long suite runs minutes after import.
    now = now or dt.datetime.now(dt.UTC)
    try:
        check_files({"ca": ca, "cert": cert, "key": key}, lambda n: f"src-{n}", "HINT", now)
    except SetupError as e:
        return str(e)
    return ""


def test_a_consistent_set_passes(cas: tuple[Path, Path]) -> None:
    ours, _ = cas
    assert _check(ours / "ca.crt", ours / "alice.crt", ours / "alice.key") == ""


@pytest.mark.parametrize(
    ("files", "words"),
    [
        (("nope/ca.crt", "alice.crt", "alice.key"),
         ["CA certificate nope/ca.crt not found (--ca from src-ca; looked in", "HINT"]),
        (("ca.crt", "alice.crt", "other:alice.key"), ["is not the private key of --cert"]),
        (("ca.crt", "other:alice.crt", "other:alice.key"), ["was not signed by --ca", "HINT"]),
        (("ca.crt", "alice.key", "alice.key"), ["is not a PEM certificate"]),
        (("ca.crt", "alice.crt", "alice.crt"), ["is not an unencrypted PEM private key"]),
    ],
)
def test_each_problem_is_named(
    cas: tuple[Path, Path], files: tuple[str, str, str], words: list[str]
) -> None:
    ours, theirs = cas
    paths = [theirs / f.removeprefix("other:") if f.startswith("other:") else
             (Path(f) if f.startswith("nope") else ours / f) for f in files]
    message = _check(*paths)
    assert all(w in message for w in words), message


def test_expired_and_not_yet_valid(cas: tuple[Path, Path]) -> None:
    ours, _ = cas
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=pki.DEFAULT_DAYS + 1)
    assert "expired on" in _check(ours / "ca.crt", ours / "alice.crt", ours / "alice.key", later)
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    message = _check(ours / "ca.crt", ours / "alice.crt", ours / "alice.key", earlier)
    assert "is not valid before" in message and "clock" in message
