"""The finish of a split HLS job (core.split_hls): its ffmpeg run and the audio
rendition it makes. Pure, like core.argv.

With audio, the run encodes the whole input's audio once into an audio-only
rendition beside the stitched video, offset like the parts so the two line up.
Without, it reads the stitched first rendition through its playlist by stream
copy: the run checks that the ladder plays from end to end, and reports progress.
"""

from __future__ import annotations

from ffrtmp.core.argv import LAVFI_AUDIO, audio_args, head_args, is_synthetic, num
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.hls_playlists import Audio
from ffrtmp.core.model import JobSpec
from ffrtmp.core.outputs import hls_layout
from ffrtmp.core.sizes import bitrate_bps
from ffrtmp.core.split_hls import TS_OFFSET_S, media_segment_s

# The CODECS entry of each audio codec (AAC-LC; Opus in MPEG-TS).
AUDIO_CODECS = {"aac": "mp4a.40.2", "opus": "opus"}


def audio_rendition(spec: JobSpec, has_audio: bool) -> Audio | None:
    """The audio rendition the finish writes, or None (no audio to encode)."""
    if spec.audio_codec == "none" or not (has_audio or is_synthetic(spec)):
        return None
    stem = hls_layout(spec.output).stem
    codec = AUDIO_CODECS.get(spec.audio_codec or "aac", "")
    return Audio(f"{stem}_a.m3u8", bitrate_bps(spec.audio_bitrate or "128k"), codec)


def finish_argv(
    ffmpeg: str,
    spec: JobSpec,
    *,
    input_url: str,
    directory: str,
    audio: Audio | None,
    features: FfmpegFeatures | None = None,
) -> list[str]:
    """`directory`: the staged output directory, where the stitched playlists are."""
    argv = head_args(ffmpeg, features or FfmpegFeatures())
    base = directory.rstrip("/")
    if audio is None:
        first = f"{base}/{hls_layout(spec.output).stem}_0.m3u8"
        return [*argv, "-i", first, "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    source = ["-f", "lavfi", "-i", LAVFI_AUDIO] if is_synthetic(spec) else ["-i", input_url]
    argv += [*source, "-map", "0:a:0", "-vn", *audio_args(spec, "")]
    if spec.duration_s > 0:
        argv += ["-t", num(spec.duration_s)]
    segment = base + "/" + audio.uri.removesuffix(".m3u8") + "_%05d.ts"
    return [
        *argv, "-output_ts_offset", num(TS_OFFSET_S),
        *["-f", "hls", "-hls_time", num(media_segment_s(spec)), "-hls_list_size", "0"],
        *["-hls_playlist_type", "vod", "-hls_segment_filename", segment],
        f"{base}/{audio.uri}",
    ]
