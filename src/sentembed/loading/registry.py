"""The fixed table that maps module type names in `modules.json` to our classes.

Type names are never imported, except for unknown ones when the user passes `trust_remote_code=True`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

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

# Module classes this process already holds, by the type name `modules.json` records: loaded as they are, without
# trust_remote_code, inside `trusted_module_classes`.
_TRUSTED_CLASSES: ContextVar[dict[str, type] | None] = ContextVar("trusted_module_classes", default=None)


@contextmanager
def trusted_module_classes(classes: Mapping[str, type]) -> Iterator[None]:
    """Inside the block, a `modules.json` type named in `classes` loads as that class without
    `trust_remote_code`: a class this process has already imported (such as a trained model's own custom
    module, when the trainer reloads its checkpoint) runs no code from the folder. Other unknown types are
    still refused.

    Args:
        classes: type names as `module_type_name` writes them (such as "my_package.MyModule"), to classes.
    """
    token = _TRUSTED_CLASSES.set({**(_TRUSTED_CLASSES.get() or {}), **classes})
    try:
        yield
    finally:
        _TRUSTED_CLASSES.reset(token)


def names_known_module(type_name: str, class_name: str) -> bool:
    """True when a `modules.json` type (such as `sentence_transformers.models.Transformer`) names our `class_name`."""
    return type_name.startswith(KNOWN_MODULE_PREFIXES) and type_name.rsplit(".", 1)[-1] == class_name


def module_class(type_name: str, trust_remote_code: bool = False) -> type:
    """The class for a `modules.json` type, such as `sentence_transformers.models.Pooling`."""
    class_name = type_name.rsplit(".", 1)[-1]
    if class_name in KNOWN_MODULES and names_known_module(type_name, class_name):
        return KNOWN_MODULES[class_name]
    trusted = (_TRUSTED_CLASSES.get() or {}).get(type_name)
    if trusted is not None:
        return trusted
    if not trust_remote_code:
        raise ValueError(
            f"unknown module type {type_name!r} in modules.json; sentembed knows {sorted(KNOWN_MODULES)}. "
            "Pass trust_remote_code=True to import it from its own code."
        )
    module_path, _, class_name = type_name.rpartition(".")
    return getattr(importlib.import_module(module_path), class_name)


def module_type_name(module: object) -> str:
    """The type name to write for `module`, readable by every version of the reference: a known module's
    standard name (also for sentembed's own subclasses, such as the ONNX Transformer), else the class's full
    name (a user's module, or a user's subclass of a known one, which loads back as itself)."""
    cls = type(module)
    if not cls.__module__.startswith("sentembed."):
        return fullname(cls)
    for known in cls.__mro__:
        if KNOWN_MODULES.get(known.__name__) is known:
            return f"sentence_transformers.models.{known.__name__}"
    return fullname(cls)
