"""What a job needs and what a worker offers, as sets of tokens.

A job's requirements and a worker's offers are both frozensets of strings such
as "codec:h265", "encoder:h264_nvenc", "gpu" or "label:zone=eu"; a worker can run
a job when the job's set is a subset of its own. Jobs with the same set share a
heap, so the number of heaps is the number of distinct needs, not of jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ffrtmp.core.encoders import FAMILIES, encoder_family
from ffrtmp.core.memo import ByIdentity
from ffrtmp.core.model import JobSpec
from ffrtmp.core.spec_video import TWO_PASS
from ffrtmp.core.tunes import tune_token, tune_tokens

# Codec families and encoder names live in core.encoders, so that what a worker
# offers and what it then selects can never disagree.

Tokens = frozenset[str]
RAW_ARGS = "raw-args"  # offered by workers started with --allow-raw-args


def offers(encoders: Iterable[str], gpus: int, labels: Mapping[str, str],
           raw_args: bool = False) -> Tokens:
    out = {RAW_ARGS} if raw_args else set()
    encoders = list(encoders)
    for e in encoders:
        out.add(f"encoder:{e}")
        family = encoder_family(e)
        if family:
            out.add(f"codec:{family}")
    out.update(tune_tokens(encoders))
    if gpus > 0:
        out.add("gpu")
    out.update(f"label:{k}={v}" for k, v in labels.items())
    return frozenset(out)


def _requirements(spec: JobSpec) -> Tokens:
    out = set()
    family = FAMILIES.get(spec.codec.lower())
    out.add(f"codec:{family}" if family else f"encoder:{spec.codec}")
    tune = tune_token(spec.codec, spec.tune)
    if tune is not None:
        out.add(tune)
    r = spec.requirements
    out.update(f"encoder:{e}" for e in r.encoders)
    if r.gpu:
        out.add("gpu")
    out.update(f"label:{k}={v}" for k, v in r.labels)
    if spec.raw_args:
        out.add(RAW_ARGS)
    if spec.passes == 2:
        out.add(f"encoder:{TWO_PASS[spec.codec.lower()]}")  # a GPU encoder would not do
    if spec.audio_codec == "opus":
        out.add("encoder:libopus")  # audio encoders are in a worker's offers too
    return frozenset(out)


# What a spec needs, once per spec object: a submit asks three times.
requirements: ByIdentity[JobSpec, Tokens] = ByIdentity(_requirements)


def describe_missing(
    needs: Tokens, offered: Iterable[Tokens], draining: Mapping[str, Tokens] | None = None
) -> str:
    """Why no connected worker can run a job with `needs`, for GetJob and stats.
    `draining` holds the connected workers that take no new jobs, by node id."""
    offered = list(offered)
    able = sorted(n for n, o in (draining or {}).items() if needs <= o)
    if able:
        return f"the workers that could run it are draining: {', '.join(able[:5])}"
    if not offered:
        return "no worker is connected"
    closest = min(offered, key=lambda o: len(needs - o))
    missing = ", ".join(sorted(needs - closest))
    return f"no connected worker offers {missing}"
