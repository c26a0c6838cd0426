"""Following the leader among several master addresses (core/masters.py)."""

from __future__ import annotations

import pytest

from ffrtmp.core.masters import MasterList, hint, parse


@pytest.mark.parametrize(
    ("text", "addresses"),
    [
        ("a:1", ("a:1",)),
        ("a:1,b:2,c:3", ("a:1", "b:2", "c:3")),
        (" a:1 , b:2 ,", ("a:1", "b:2")),
        ("a:1,a:1,b:2", ("a:1", "b:2")),
    ],
)
def test_parse(text: str, addresses: tuple[str, ...]) -> None:
    assert parse(text) == addresses


@pytest.mark.parametrize("text", ["", " , ", ","])
def test_parse_refuses_an_empty_list(text: str) -> None:
    with pytest.raises(ValueError, match="at least one HOST:PORT"):
        parse(text)


def test_hint_reads_the_trailing_metadata() -> None:
    assert hint((("x", "1"), ("ffrtmp-leader", "b:2"))) == "b:2"
    assert hint((("ffrtmp-leader", b"b:2"),)) == "b:2"
    assert hint((("ffrtmp-leader", ""),)) is None
    assert hint(()) is None
    assert hint(None) is None


def test_a_hint_goes_straight_to_the_leader() -> None:
    m = MasterList(["a:1", "b:2", "c:3"])
    assert m.follow("c:3") is True
    assert m.current == "c:3"


def test_no_hint_tries_the_next_address_in_turn() -> None:
    m = MasterList(["a:1", "b:2", "c:3"])
    seen = []
    for _ in range(4):
        assert m.follow(None) is False
        seen.append(m.current)
    assert seen == ["b:2", "c:3", "a:1", "b:2"]


def test_a_hint_naming_the_current_master_moves_on() -> None:
    # The leader just stepped down but still names itself: do not loop on it.
    m = MasterList(["a:1", "b:2"])
    assert m.follow("a:1") is False
    assert m.current == "b:2"


def test_an_unknown_hinted_address_is_added() -> None:
    m = MasterList(["a:1", "b:2"])
    assert m.follow("leader.example:50051") is True
    assert m.current == "leader.example:50051"
    assert len(m) == 3
    m.follow(None)
    assert m.current == "a:1"
