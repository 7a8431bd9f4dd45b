"""Types and names that several packages share."""

from __future__ import annotations

from typing import Any, Literal, Union

import numpy as np
import torch

__all__ = [
    "ArrayLike",
    "Features",
    "Hit",
    "KNOWN_MODULE_PREFIXES",
    "PRECISIONS",
    "Pair",
    "Precision",
    "Row",
    "fullname",
]

Hit = dict[str, Any]
"""One search result: `{"corpus_id": ..., "score": ...}`, with optional extra keys such as "text"."""

ArrayLike = Union[torch.Tensor, np.ndarray, list]
Features = dict[str, Any]
Row = dict[str, list[int]]
"""One tokenized text (or pair) before padding: column name -> token ids."""
Pair = tuple[str, str]

Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[str, ...] = ("float32", "int8", "uint8", "binary", "ubinary")

# Writers of the standard folder format put every module class under one of these packages.
KNOWN_MODULE_PREFIXES = ("sentence_transformers.", "sentembed.")


def fullname(obj: Any) -> str:
    """The dotted path of a class, or of an object's class ("torch.nn.modules.activation.Tanh"); builtins bare."""
    cls = obj if isinstance(obj, type) else type(obj)
    if cls.__module__ in (None, "builtins"):
        return cls.__name__
    return f"{cls.__module__}.{cls.__name__}"
