"""How the CLI shows a job's media: its encoding settings, its ladder, what it
needs from a worker and what its output turned out to hold. Plain objects for
--output json, short strings for tables."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from ffrtmp.v1 import common_pb2


def message_dict(m: Message) -> dict[str, Any]:
    """A message as plain JSON under its proto field names (json_format): every
    field, an unset optional one as None, a map sorted by key."""
    d = json_format.MessageToDict(
        m, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    for fd in m.DESCRIPTOR.fields:
        value = d.get(fd.name)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            d[fd.name] = dict(sorted((value or {}).items()))
        elif fd.name not in d and not fd.is_repeated:
            sub = fd.message_type is not None
            d[fd.name] = message_dict(getattr(m, fd.name)) if sub else None
    return d


def output_info_dict(j: common_pb2.Job) -> dict[str, Any] | None:
    """What the worker's probe saw in a finished output; None when it probed
    nothing (not finished, a push or null output, or an older worker)."""
    if not j.HasField("output_info"):
        return None
    o = j.output_info
    return {
        "format": o.format,
        "duration_s": round(o.duration_s, 3),
        "size_bytes": o.size_bytes,
        "bitrate_bps": o.bitrate_bps,
        "streams": [
            {
                "index": st.index,
                "kind": st.kind,
                "codec": st.codec,
                "width": st.width,
                "height": st.height,
                "fps": round(st.fps, 3),
                "sample_rate": st.sample_rate,
                "channels": st.channels,
                "bitrate_bps": st.bitrate_bps,
            }
            for st in o.streams
        ],
        # Stored for download (`ffrtmp jobs fetch`): empty when the output stays
        # only on the worker's disk.
        "artifacts": [
            {
                "name": a.name,
                "size_bytes": a.size_bytes,
                "sha256": a.sha256,
                "content_type": a.content_type,
                "resource": a.resource,
            }
            for a in o.artifacts
        ],
    }


def size_text(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def rate_text(bps: int) -> str:
    return f"{bps / 1e6:.2f} Mb/s" if bps >= 1_000_000 else f"{bps / 1000:.0f} kb/s"


def stream_text(st: dict[str, Any]) -> str:
    """One stream on one line: `#0 video h264 1280x720 30 fps 2.40 Mb/s`."""
    parts = [f"#{st['index']}", st["kind"], st["codec"]]
    if st["width"] and st["height"]:
        parts.append(f"{st['width']}x{st['height']}")
    if st["fps"]:
        parts.append(f"{st['fps']:g} fps")
    if st["sample_rate"]:
        parts.append(f"{st['sample_rate']} Hz")
    if st["channels"]:
        parts.append(st["channels"])
    if st["bitrate_bps"]:
        parts.append(rate_text(st["bitrate_bps"]))
    return " ".join(parts)


def output_info_lines(info: dict[str, Any]) -> list[str]:
    """The container, then one line per stream."""
    head = [info["format"], f"{info['duration_s']:g} s", size_text(info["size_bytes"])]
    if info["bitrate_bps"]:
        head.append(rate_text(info["bitrate_bps"]))
    lines = [", ".join(head), *(stream_text(st) for st in info["streams"])]
    arts = info.get("artifacts") or []
    if arts:
        total = size_text(sum(a["size_bytes"] for a in arts))
        lines.append(f"stored: {len(arts)} file(s), {total} (ffrtmp jobs fetch)")
        lines += [f"  {a['name']} {size_text(a['size_bytes'])}" for a in arts[:SHOWN]]
        if len(arts) > SHOWN:
            lines.append(f"  … and {len(arts) - SHOWN} more")
    return lines


SHOWN = 8  # artifact names listed in `jobs get`; -o json lists them all


def media_rows(d: dict[str, Any]) -> list[tuple[str, str]]:
    """The settings worth a row in `jobs get`, each only when set."""
    rows: list[tuple[str, str]] = []
    if d["gop_s"]:
        rows.append(("gop", f"{d['gop_s']:g} s"))
    if d["maxrate"] or d["bufsize"]:
        rows.append(("rate cap", f"maxrate {d['maxrate'] or '-'}, bufsize {d['bufsize'] or '-'}"))
    if d["audio_codec"] == "none":
        rows.append(("audio", "none"))
    elif d["audio_codec"]:
        audio = [d["audio_codec"], d["audio_bitrate"]]
        if d["audio_sample_rate"]:
            audio.append(f"{d['audio_sample_rate']} Hz")
        if d["audio_channels"]:
            audio.append(f"{d['audio_channels']} ch")
        rows.append(("audio", " ".join(a for a in audio if a)))
    if d["renditions"]:
        rungs = [f"{r['width']}x{r['height']}@{r['bitrate']}" for r in d["renditions"]]
        rows.append(("renditions", ", ".join(rungs)))
    if d["tune"]:
        rows.append(("tune", d["tune"]))
    if d["threads"]:
        rows.append(("threads", str(d["threads"])))
    if d["nice"] is not None:
        rows.append(("nice", str(d["nice"])))
    req = d["requirements"]
    needs = [*req["encoders"], *(["gpu"] if req["gpu"] else [])]
    needs += [f"{k}={v}" for k, v in req["labels"].items()]
    if needs:
        rows.append(("requires", ", ".join(needs)))
    return rows


def eta_text(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
