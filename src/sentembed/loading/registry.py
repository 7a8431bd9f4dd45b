"""The fixed table that maps module type names in `modules.json` to our classes.

Type names are never imported, except for unknown ones when the user passes `trust_remote_code=True`.
"""

from __future__ import annotations

import importlib

from sentembed.common.types import KNOWN_MODULE_PREFIXES, fullname
from sentembed.models import (
    CNN,
    LSTM,
    BoW,
    CLIPModel,
    Dense,
    Dropout,
    LayerNorm,
    Normalize,
    Pooling,
    Router,
    StaticEmbedding,
    Transformer,
    WeightedLayerPooling,
    WordEmbeddings,
    WordWeights,
)
from sentembed.models.base import Module

KNOWN_MODULES: dict[str, type[Module]] = {
    "Transformer": Transformer,
    "Pooling": Pooling,
    "Dense": Dense,
    "Normalize": Normalize,
    "StaticEmbedding": StaticEmbedding,
    "CLIPModel": CLIPModel,
    "WordEmbeddings": WordEmbeddings,
    "WordWeights": WordWeights,
    "BoW": BoW,
    "CNN": CNN,
    "LSTM": LSTM,
    "LayerNorm": LayerNorm,
    "Dropout": Dropout,
    "WeightedLayerPooling": WeightedLayerPooling,
    "Router": Router,
    "Asym": Router,
}


def names_known_module(type_name: str, class_name: str) -> bool:
    """True when a `modules.json` type (such as `sentence_transformers.models.Transformer`) names our `class_name`."""
    return type_name.startswith(KNOWN_MODULE_PREFIXES) and type_name.rsplit(".", 1)[-1] == class_name


def module_class(type_name: str, trust_remote_code: bool = False) -> type:
    """The class for a `modules.json` type, such as `sentence_transformers.models.Pooling`."""
    class_name = type_name.rsplit(".", 1)[-1]
    if class_name in KNOWN_MODULES and names_known_module(type_name, class_name):
        return KNOWN_MODULES[class_name]
    if not trust_remote_code:
        raise ValueError(
            f"unknown module type {type_name!r} in modules.json; sentembed knows {sorted(KNOWN_MODULES)}. "
            "Pass trust_remote_code=True to import it from its own code."
        )
    module_path, _, class_name = type_name.rpartition(".")
    return getattr(importlib.import_module(module_path), class_name)


def module_type_name(module: object) -> str:
    """The type name to write for `module`, readable by every version of the reference."""
    cls = type(module)
    for known in cls.__mro__:  # a subclass such as the ONNX Transformer saves as its standard base
        if KNOWN_MODULES.get(known.__name__) is known:
            return f"sentence_transformers.models.{known.__name__}"
    return fullname(cls)
