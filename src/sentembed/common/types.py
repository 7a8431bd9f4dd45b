"""Types and names that several packages share."""

from __future__ import annotations

from typing import Any, Literal, Union

import numpy as np
import torch

__all__ = [
    "ArrayLike",
    "Backend",
    "Features",
    "Hit",
    "KNOWN_MODULE_PREFIXES",
    "PRECISIONS",
    "Pair",
    "Precision",
    "Row",
    "fullname",
    "supports_modality",
]

Hit = dict[str, Any]
"""One search result: `{"corpus_id": ..., "score": ...}`, with optional extra keys such as "text"."""

ArrayLike = Union[torch.Tensor, np.ndarray, list]
Features = dict[str, Any]
Row = dict[str, list[int]]
"""One tokenized text (or pair) before padding: column name -> token ids."""
Pair = tuple[str, str]

Backend = Literal["torch", "onnx", "openvino", "auto"]
"""What runs a model: torch, an ONNX or OpenVINO export, or "auto" (the fastest that keeps the results)."""

Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[str, ...] = ("float32", "int8", "uint8", "binary", "ubinary")

# Writers of the standard folder format put every module class under one of these packages.
KNOWN_MODULE_PREFIXES = ("sentence_transformers.", "sentembed.")


def fullname(obj: Any) -> str:
    """The dotted path of a class, as model folders record module and activation classes.

    Args:
        obj: A class, or an object whose class to name.

    Returns:
        The module and class name, e.g. "torch.nn.modules.activation.Tanh"; a builtin's bare name ("int").
    """
    cls = obj if isinstance(obj, type) else type(obj)
    if cls.__module__ in (None, "builtins"):
        return cls.__name__
    return f"{cls.__module__}.{cls.__name__}"


def supports_modality(modalities: list[Any], modality: str | tuple[str, ...]) -> bool:
    """Whether a model reading `modalities` takes `modality`.

    Args:
        modalities: What the model reads, e.g. ["text", "image", "message"].
        modality: One modality ("text") or a combination of them in one input (("image", "text")).

    Returns:
        True for a modality it lists (a listed tuple too), or a tuple of modalities it lists one by one when it
        also reads "message" inputs, which combine several in one input.
    """
    if modality in modalities:
        return True
    if isinstance(modality, tuple) and "message" in modalities:
        return all(part in modalities for part in modality)
    return False
