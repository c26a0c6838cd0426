"""What a job needs and what a worker offers, as sets of tokens.

A job's requirements and a worker's offers are both frozensets of strings such
as "codec:h265", "encoder:h264_nvenc", "gpu" or "label:zone=eu"; a worker can run
a job when the job's set is a subset of its own. Jobs with the same set share a
heap, so the number of heaps is the number of distinct needs, not of jobs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from ffrtmp.core.model import JobSpec

Tokens = frozenset[str]

# Codec families and the encoder names that produce them.
_FAMILY_PREFIXES = (("h264_", "h264"), ("hevc_", "h265"), ("av1_", "av1"), ("vp9_", "vp9"))
_SOFTWARE = {
    "libx264": "h264",
    "libopenh264": "h264",
    "libx264rgb": "h264",
    "libx265": "h265",
    "libkvazaar": "h265",
    "libvpx-vp9": "vp9",
    "libsvtav1": "av1",
    "libaom-av1": "av1",
    "librav1e": "av1",
}
FAMILIES = {
    "h264": "h264",
    "avc": "h264",
    "h265": "h265",
    "hevc": "h265",
    "vp9": "vp9",
    "av1": "av1",
}


def encoder_family(encoder: str) -> str | None:
    if encoder in _SOFTWARE:
        return _SOFTWARE[encoder]
    for prefix, family in _FAMILY_PREFIXES:
        if encoder.startswith(prefix):
            return family
    return None


def offers(encoders: Iterable[str], gpus: int, labels: Mapping[str, str]) -> Tokens:
    out = set()
    for e in encoders:
        out.add(f"encoder:{e}")
        family = encoder_family(e)
        if family:
            out.add(f"codec:{family}")
    if gpus > 0:
        out.add("gpu")
    out.update(f"label:{k}={v}" for k, v in labels.items())
    return frozenset(out)


def requirements(spec: JobSpec) -> Tokens:
    out = set()
    family = FAMILIES.get(spec.codec.lower())
    out.add(f"codec:{family}" if family else f"encoder:{spec.codec}")
    r = spec.requirements
    out.update(f"encoder:{e}" for e in r.encoders)
    if r.gpu:
        out.add("gpu")
    out.update(f"label:{k}={v}" for k, v in r.labels)
    return frozenset(out)


def describe_missing(needs: Tokens, offered: Iterable[Tokens]) -> str:
    """Why no connected worker can run a job with `needs`, for GetJob and stats."""
    offered = list(offered)
    if not offered:
        return "no worker is connected"
    closest = min(offered, key=lambda o: len(needs - o))
    missing = ", ".join(sorted(needs - closest))
    return f"no connected worker offers {missing}"


def choose_node(free: dict[str, int], avoid: Collection[str] = ()) -> str | None:
    """The node with the most free slots, preferring nodes not in `avoid` (where
    this job already failed); ties go to the smallest node id, for stable tests."""
    best: str | None = None
    best_key: tuple[bool, int, str] | None = None
    for node_id, slots in free.items():
        if slots <= 0:
            continue
        key = (node_id in avoid, -slots, node_id)
        if best_key is None or key < best_key:
            best, best_key = node_id, key
    return best
