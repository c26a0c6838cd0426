"""parse_size: the --min-free-disk flag's values."""

from __future__ import annotations

import pytest

from ffrtmp.core.sizes import parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("1048576", 1 << 20),
        ("512M", 512 << 20),
        ("1G", 1 << 30),
        ("1.5GiB", 3 << 29),
        ("100k", 102_400),
        (" 2 GB ", 2 << 30),
        ("1t", 1 << 40),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "G", "-1G", "1X", "1 G B", "ten"])
def test_bad_sizes(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(bad)
