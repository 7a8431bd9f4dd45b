"""What a model card says about a dataset: a sample of its rows, per-column statistics (token lengths of texts,
label shares, number ranges, list sizes, image sizes, audio and video durations) and those as markdown tables."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.loading._card_media import (
    audio_seconds,
    is_audio_dict,
    is_image,
    is_video_decoder,
    is_video_dict,
    path_modality,
    value_modality,
)

logger = logging.getLogger(__name__)

STATS_ROWS = 100


def first_split(dataset: Any) -> Any:
    """A DatasetDict's (or any dict of datasets') first split; any other dataset as it is."""
    if isinstance(dataset, dict):
        return next(iter(dataset.values()), None)
    return dataset


def sample_rows(dataset: Any, count: int) -> list[dict[str, Any]]:
    """The first `count` rows as dicts, read through the dataset's format and transform (so a transform that
    needs columns other than the text ones still sees them). A dataset whose rows cannot be read gives []."""
    dataset = first_split(dataset)
    if dataset is None:
        return []
    try:
        if hasattr(dataset, "take") and not hasattr(dataset, "__len__"):
            return [dict(row) for row in dataset.take(count)]
        if isinstance(dataset, list):
            return [dict(row) for row in dataset[:count]]
        batch = dataset[: min(count, len(dataset))]
    except Exception as error:
        logger.warning("Could not read example rows for the model card (%s: %s)", type(error).__name__, error)
        return []
    columns = list(batch)
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*(batch[column] for column in columns), strict=True)
    ]


def hub_dataset_source(dataset: Any) -> dict[str, str]:
    """The Hub id (and revision) of a dataset that `datasets.load_dataset` cached, read from its cache path
    (`.../{owner}___{name}/{config}/{version}/{revision}/file.arrow`); {} for any other dataset."""
    for cache in getattr(dataset, "cache_files", None) or []:
        parts = Path(cache.get("filename", "")).parts
        for index, part in enumerate(parts[:-1]):
            if "___" in part:
                source = {"id": part.replace("___", "/")}
                if index + 3 < len(parts) - 1:
                    source["revision"] = parts[index + 3]
                return source
    return {}


def dataset_size(dataset: Any) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


# ----- one column ---------------------------------------------------------------------------------------


def min_mean_max(values: list[float], unit: Callable[[float], str]) -> dict[str, str]:
    return {"min": unit(min(values)), "mean": unit(float(np.mean(values))), "max": unit(max(values))}


def label_shares(values: list[Any]) -> dict[Any, str]:
    counts = Counter(values)
    return {value: f"{counts[value] / len(values):.2%}" for value in sorted(counts)}


def list_sizes(values: list[Any]) -> dict[str, str]:
    sizes = [len(value) for value in values]
    if len(set(sizes)) == 1:
        return {"size": f"{sizes[0]} elements"}
    return {
        "min": f"{min(sizes)} elements",
        "mean": f"{float(np.mean(sizes)):.2f} elements",
        "max": f"{max(sizes)} elements",
    }


def image_sizes(images: list[Any]) -> dict[str, str]:
    by_area = sorted(images, key=lambda image: image.size[0] * image.size[1])
    mean_width = float(np.mean([image.size[0] for image in images]))
    mean_height = float(np.mean([image.size[1] for image in images]))
    return {
        "min": f"{by_area[0].size[0]}x{by_area[0].size[1]} px",
        "mean": f"{mean_width:.0f}x{mean_height:.0f} px",
        "max": f"{by_area[-1].size[0]}x{by_area[-1].size[1]} px",
    }


def audio_durations(clips: list[dict[str, Any]]) -> dict[str, str]:
    data = min_mean_max([audio_seconds(clip) for clip in clips], lambda seconds: f"{seconds:.2f}s")
    rates = sorted({int(clip["sampling_rate"]) for clip in clips})
    data["sampling_rate"] = ", ".join(f"{rate} Hz" for rate in rates)
    return data


def video_frames(videos: list[dict[str, Any]]) -> dict[str, str]:
    """Frame counts of `{"array", "video_metadata"}` videos, and their frame rates."""
    data = min_mean_max([len(video["array"]) for video in videos], lambda frames: f"{frames:.0f} frames")
    rates = sorted({video["video_metadata"].get("fps") for video in videos} - {None})
    if rates:
        data["fps"] = ", ".join(f"{rate:g}" for rate in rates)
    return data


def video_durations(decoders: list[Any]) -> dict[str, str]:
    metas = [decoder.metadata for decoder in decoders]
    data = min_mean_max([meta.duration_seconds for meta in metas], lambda seconds: f"{seconds:.2f}s")
    data["fps"] = f"{float(np.mean([meta.average_fps for meta in metas])):.1f}"
    return data


def qualified_name(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__


def column_stats(values: list[Any], count_tokens: Callable[[list[str]], list[int]] | None, modalities: list[str]):
    """{"dtype", "modality", "data"} for a column's sampled values; texts are measured with `count_tokens`
    (when given), strings naming media files the model reads are left unmeasured."""
    first = values[0]
    if isinstance(first, str):
        media = path_modality(first)
        if media in modalities:
            return {"dtype": "string", "modality": media, "data": {}}
        data = {}
        if count_tokens is not None:
            data = min_mean_max(
                count_tokens(values), lambda tokens: f"{tokens:.2f} tokens" if tokens % 1 else f"{int(tokens)} tokens"
            )
        return {"dtype": "string", "modality": "text", "data": data}
    if isinstance(first, bool):
        return {"dtype": "bool", "modality": "", "data": label_shares(values)}
    if isinstance(first, int):
        return {"dtype": "int", "modality": "", "data": label_shares(values)}
    if isinstance(first, float):
        limits = {"min": min(values), "mean": float(np.mean(values)), "max": max(values)}
        return {"dtype": "float", "modality": "", "data": {key: round(value, 2) for key, value in limits.items()}}
    if isinstance(first, (list, tuple)):
        return {"dtype": "list", "modality": "", "data": list_sizes(values)}
    if is_image(first):
        return {"dtype": "image", "modality": "image", "data": image_sizes(values)}
    if is_audio_dict(first):
        return {"dtype": "audio", "modality": "audio", "data": audio_durations(values)}
    if is_video_dict(first):
        return {"dtype": "video", "modality": "video", "data": video_frames(values)}
    if is_video_decoder(first):
        return {"dtype": "video", "modality": "video", "data": video_durations(values)}
    modality = value_modality(first)
    return {"dtype": qualified_name(first), "modality": modality if modality in modalities else "", "data": {}}


# ----- tables -------------------------------------------------------------------------------------------


def details_cell(data: dict[Any, Any]) -> str:
    if not data:
        return ""
    return "<ul>" + "".join(f"<li>{key}: {value}</li>" for key, value in data.items()) + "</ul>"


def stats_table(stats: dict[str, dict[str, Any]]) -> str:
    """Columns side by side: their type, modality and details."""
    columns = list(stats)
    rows = [
        "|         | " + " | ".join(f"{column}" for column in columns) + " |",
        "|:--------|" + ":-----|" * len(columns),
        "| type    | " + " | ".join(stats[column]["dtype"] for column in columns) + " |",
        "| modality | " + " | ".join(stats[column]["modality"] for column in columns) + " |",
        "| details | " + " | ".join(details_cell(stats[column]["data"]) for column in columns) + " |",
    ]
    return "\n".join(rows)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + ":-----|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
