"""Non-text examples in model cards: recognising images, audio and video, describing them in one short line,
fingerprinting them (so one picture is saved once), and writing them as files under a model's `assets/` folder.

Audio and video arrive as the `datasets` library hands them out: audio as `{"array", "sampling_rate"}`, video as
`{"array", "video_metadata"}` or as a torchcodec `VideoDecoder` (recognised by its `metadata` and
`get_frames_at`, so any decoder of that shape works).
"""

from __future__ import annotations

import hashlib
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np

MEDIA_EXTENSIONS = {
    "image": (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"),
    "audio": (".wav", ".mp3", ".flac", ".ogg", ".m4a"),
    "video": (".mp4", ".webm", ".mov", ".avi", ".mkv"),
}
EXAMPLE_TEXT_LIMIT = 1000
EXAMPLE_LIST_LIMIT = 5


def open_video_decoder(source: str) -> Any:
    """A torchcodec VideoDecoder reading `source`; OSError when torchcodec is not installed."""
    try:
        from torchcodec.decoders import VideoDecoder
    except ImportError as error:
        raise OSError(f"decoding the video {source} needs torchcodec (pip install torchcodec)") from error
    return VideoDecoder(source)


# ----- recognising media ------------------------------------------------------------------------------


def is_image(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "size") and hasattr(value, "save")


def is_typed_media_dict(value: Any) -> bool:
    """An audio (`array` + `sampling_rate`) or video (`array` + `video_metadata`) dict."""
    return isinstance(value, dict) and "array" in value and ("sampling_rate" in value or "video_metadata" in value)


def is_audio_dict(value: Any) -> bool:
    return is_typed_media_dict(value) and "sampling_rate" in value


def is_video_dict(value: Any) -> bool:
    return is_typed_media_dict(value) and "video_metadata" in value


def is_video_decoder(value: Any) -> bool:
    return hasattr(value, "metadata") and callable(getattr(value, "get_frames_at", None))


def is_media(value: Any) -> bool:
    """Anything that is not text: an image, an audio or video dict, a video decoder, an array."""
    return is_image(value) or is_typed_media_dict(value) or is_video_decoder(value) or isinstance(value, np.ndarray)


def path_modality(text: str) -> str | None:
    """ "image", "audio" or "video" for a string that names an existing media file, else None."""
    suffix = Path(text).suffix.lower()
    for modality, extensions in MEDIA_EXTENSIONS.items():
        if suffix in extensions and Path(text).is_file():
            return modality
    return None


def value_modality(value: Any) -> str:
    """The modality an example value belongs to ("" for numbers and other non-inputs)."""
    if isinstance(value, str):
        return path_modality(value) or "text"
    if is_image(value):
        return "image"
    if is_audio_dict(value):
        return "audio"
    if is_video_dict(value) or is_video_decoder(value):
        return "video"
    if isinstance(value, np.ndarray):
        return {4: "video", 3: "image", 1: "audio"}.get(value.ndim, "")
    if isinstance(value, dict):
        return "+".join(sorted(key for key, item in value.items() if value_modality(item)))
    return ""


# ----- describing media -------------------------------------------------------------------------------


def audio_seconds(audio: dict[str, Any]) -> float:
    return len(audio["array"]) / float(audio["sampling_rate"])


def describe_media(value: Any) -> str | None:
    """One short line for a non-text value ("image 64x48", "audio 1.00s, 16000 Hz", ...), None for others."""
    if is_image(value):
        return f"image {value.size[0]}x{value.size[1]}"
    if is_audio_dict(value):
        return f"audio {audio_seconds(value):.2f}s, {value['sampling_rate']} Hz"
    if is_video_dict(value):
        frames = np.asarray(value["array"])
        fps = value["video_metadata"].get("fps")
        return f"video {len(frames)} frames" + (f", {fps:g}fps" if fps else "")
    if is_video_decoder(value):
        meta = value.metadata
        return f"video {meta.duration_seconds:.2f}s, {meta.width}x{meta.height}, {meta.average_fps:g}fps"
    return None


def format_example_value(value: Any) -> str:
    """A value as one markdown table cell: long text and lists cut, newlines as <br>, pipes escaped, media
    described."""
    described = describe_media(value)
    if described is not None:
        return described
    if isinstance(value, (list, tuple)) and len(value) > EXAMPLE_LIST_LIMIT:
        text = str(list(value[:EXAMPLE_LIST_LIMIT]))[:-1] + ", ...]"
    else:
        text = str(value)
    if len(text) > EXAMPLE_TEXT_LIMIT:
        text = text[:EXAMPLE_TEXT_LIMIT] + "..."
    return text.replace("\n", "<br>").replace("|", "\\|")


# ----- fingerprints -----------------------------------------------------------------------------------


def digest(*parts: bytes) -> int:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part)
    return int.from_bytes(hasher.digest()[:8], "big")


def video_source(decoder: Any) -> tuple[str | None, bytes | None]:
    """Where a decoder's video came from: the path or bytes `datasets` stamps on it, else the metadata path."""
    encoded = getattr(decoder, "_hf_encoded", None) or {}
    path = encoded.get("path") or getattr(decoder.metadata, "path", None)
    return path, encoded.get("bytes")


def hash_asset(value: Any) -> int | None:
    """A fingerprint that is equal for equal media; None for a value with nothing to identify it by."""
    if is_image(value):
        return digest(value.mode.encode(), str(value.size).encode(), value.tobytes())
    if is_typed_media_dict(value):
        meta = value.get("video_metadata") or {}
        return digest(
            np.ascontiguousarray(value["array"]).tobytes(),
            repr(value.get("sampling_rate")).encode(),
            repr(meta).encode(),
        )
    if is_video_decoder(value):
        path, data = video_source(value)
        if data:
            return digest(b"bytes", data)
        return digest(b"path", path.encode()) if path else None
    if isinstance(value, np.ndarray):
        return digest(str(value.shape).encode(), np.ascontiguousarray(value).tobytes())
    return None


# ----- decoding video ---------------------------------------------------------------------------------


def frames_of(decoder: Any) -> Any:
    """All frames of a decoder, trying: one batch of every frame, every frame but the last (often broken),
    then frame by frame."""
    count = len(decoder)
    for indices in (list(range(count)), list(range(count - 1))):
        try:
            return decoder.get_frames_at(indices).data
        except Exception:
            continue
    try:
        return np.stack([np.asarray(decoder[index]) for index in range(count)])
    except Exception:
        return None


def video_decoder_to_dict(decoder: Any) -> dict[str, Any]:
    """A decoder's frames as a `{"array", "video_metadata"}` dict; re-opens the source file when the decoder
    itself cannot decode. RuntimeError when nothing works."""
    frames = frames_of(decoder)
    path, _ = video_source(decoder)
    if frames is None and path:
        try:
            frames = frames_of(open_video_decoder(path))
        except Exception:
            frames = None
    if frames is None:
        raise RuntimeError(f"Could not decode the video {path or '(in memory)'} with any strategy")
    array = frames.numpy() if hasattr(frames, "numpy") else np.asarray(frames)
    meta = decoder.metadata
    return {
        "array": array,
        "video_metadata": {
            "fps": meta.average_fps,
            "total_num_frames": len(array),
            "duration": meta.duration_seconds,
            "width": meta.width,
            "height": meta.height,
        },
    }


def prepare_for_inference(value: Any) -> Any:
    """A value the model can encode: video decoders (also inside dicts) become video dicts."""
    if is_video_decoder(value):
        return video_decoder_to_dict(value)
    if isinstance(value, dict) and not is_typed_media_dict(value):
        return {key: prepare_for_inference(item) for key, item in value.items()}
    return value


# ----- writing media as files -------------------------------------------------------------------------


def write_wav(audio: dict[str, Any], path: Path) -> None:
    """16-bit mono (or multi-channel, channels first) PCM."""
    samples = np.asarray(audio["array"], dtype=np.float32)
    samples = samples if samples.ndim == 1 else samples.T
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(int(audio["sampling_rate"]))
        handle.writeframes(pcm.tobytes())


def write_mp4(video: dict[str, Any], path: Path) -> None:
    """Frames (T, C, H, W) or (T, H, W, C), uint8, as H.264; OSError when PyAV is not installed."""
    try:
        import av
    except ImportError as error:
        raise OSError("saving a video example needs PyAV (pip install av)") from error
    frames = np.asarray(video["array"], dtype=np.uint8)
    if frames.shape[1] in (1, 3) and frames.shape[-1] not in (1, 3):
        frames = frames.transpose(0, 2, 3, 1)
    fps = int(round(video.get("video_metadata", {}).get("fps") or 24))
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("h264", rate=fps)
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def save_media(value: Any, folder: Path, index: int, prefix: str = "") -> str | None:
    """Write a media value as `folder/<prefix><kind>_<index>.<ext>` (kind: image, audio or video); the file's
    name, or None for a value that is not media."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{prefix}{{}}_{index}"
    if is_image(value):
        name = stem.format("image") + ".jpg"
        value.convert("RGB").save(folder / name, "JPEG")
    elif is_audio_dict(value):
        name = stem.format("audio") + ".wav"
        write_wav(value, folder / name)
    elif is_video_decoder(value):
        path, data = video_source(value)
        name = stem.format("video") + (Path(path).suffix if path else ".mp4")
        if path and Path(path).is_file():
            shutil.copyfile(path, folder / name)
        elif data:
            (folder / name).write_bytes(data)
        else:
            write_mp4(video_decoder_to_dict(value), folder / name)
    elif is_video_dict(value):
        name = stem.format("video") + ".mp4"
        write_mp4(value, folder / name)
    else:
        return None
    return name
