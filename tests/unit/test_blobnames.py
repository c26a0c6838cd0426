"""Blob resource names: what parses, to what, and what is refused."""

from __future__ import annotations

import pytest

from ffrtmp.core import blobnames
from ffrtmp.core.errors import InvalidArgument

SHA = "ab" * 32


def test_names_parse_and_print_back() -> None:
    owner = blobnames.parse(f"owners/alice@example.org/blobs/{SHA}")
    assert owner == blobnames.OwnerBlob("alice@example.org", SHA)
    job = blobnames.parse("jobs/3f2a/attempts/12/hls/720p/seg_003.ts")
    assert job == blobnames.JobBlob("3f2a", 12, "hls/720p/seg_003.ts")
    for parsed in (owner, job):
        assert blobnames.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("", "required"),
        ("owners/alice/blobs/" + SHA.upper(), "SHA-256"),
        ("owners/-alice/blobs/" + SHA, "owner"),
        ("owners/alice/files/" + SHA, "expected owners/"),
        ("jobs/j/attempts/1/a/./b", "not allowed"),
        ("jobs/j/attempts/1/" + "/".join("x" * 17), "segments"),
        ("jobs/j/attempts/1/" + "x" * 513, "segments"),
        ("jobs/j/attempts/\u0661/out", "not a number"),  # an Arabic-Indic digit one
        ("jobs/j/attempts/1/out\n", "not allowed"),
    ],
)
def test_bad_names_say_why(name: str, says: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        blobnames.parse(name)
    assert info.value.field == "resource_name" and says in info.value.message
