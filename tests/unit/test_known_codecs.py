"""A codec or encoder no worker could ever offer is refused at submit, not queued forever."""

from __future__ import annotations

import pytest

from ffrtmp.core.encoders import check_codec
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import Requirements
from ffrtmp.core.spec import RawSpec, resolve


@pytest.mark.parametrize(
    "codec", ["h264", "avc", "hevc", "h265", "vp9", "av1", "libx264", "libx265", "libsvtav1",
              "libaom-av1", "libvpx-vp9", "h264_nvenc", "hevc_vaapi", "av1_qsv", "h264_amf",
              "hevc_videotoolbox", "h264_v4l2m2m"],
)
def test_families_and_encoders_of_the_tables_are_accepted(codec: str) -> None:
    check_codec("spec.codec", codec)
    assert resolve(RawSpec(codec=codec)).codec == codec


@pytest.mark.parametrize(
    ("codec", "hint"),
    [("h246", "'h264'"), ("x264", "'h264'"), ("libx246", "'libx264'"), ("h264_fast", "h264"),
     ("vp8", "vp9"), ("libopus", "family"), ("mpeg2", "family")],
)
def test_typos_are_refused_naming_the_field_and_a_fix(codec: str, hint: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve(RawSpec(codec=codec))
    assert e.value.field == "spec.codec" and hint in str(e.value)


def test_required_encoders_must_be_known_encoders() -> None:
    ok = resolve(RawSpec(requirements=Requirements(encoders=("h264_nvenc", "libopus"))))
    assert ok.requirements.encoders == ("h264_nvenc", "libopus")
    for bad in ("h264", "h264_nvnec", "x"):
        with pytest.raises(InvalidArgument) as e:
            resolve(RawSpec(requirements=Requirements(encoders=(bad,))))
        assert e.value.field == "spec.requirements.encoders"
