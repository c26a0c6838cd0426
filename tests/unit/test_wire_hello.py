"""The worker's Hello, built in the one translation module, and what worker.proto
says of it: the node_id is left empty (the certificate names the node)."""

from __future__ import annotations

from pathlib import Path

from ffrtmp import wire
from ffrtmp.core.model import Lease
from ffrtmp.worker.probe import Capabilities

PROTO = Path(__file__).resolve().parents[2] / "protos" / "ffrtmp" / "v1" / "worker.proto"
CAPS = Capabilities(("libx264", "aac"), ("vaapi",), 8, 2**30, "ffmpeg 7", 1)


def test_hello_carries_the_probe_the_flags_and_the_leases() -> None:
    msg = wire.hello_pb(
        CAPS, labels={"zone": "eu"}, slots=3, allow_raw_args=True, running=[Lease("j1", 2)]
    )
    c = msg.hello.capabilities
    assert (list(c.encoders), list(c.hwaccels), c.cpu_threads, c.ram_bytes) == (
        ["libx264", "aac"],
        ["vaapi"],
        8,
        2**30,
    )
    assert (c.ffmpeg_version, c.gpus, dict(c.labels), c.slots, c.allow_raw_args) == (
        "ffmpeg 7",
        1,
        {"zone": "eu"},
        3,
        True,
    )
    assert [(x.job_id, x.attempt) for x in msg.hello.running] == [("j1", 2)]
    assert msg.hello.node_id == ""


def test_worker_proto_says_node_id_is_optional() -> None:
    # It once said the field "must equal" the certificate's name; no worker sends it.
    text = PROTO.read_text()
    comment = text[text.index("message Hello {") : text.index("string node_id = 1;")]
    assert "Optional, and left empty by the worker daemon" in comment
    assert "PERMISSION_DENIED" in comment
