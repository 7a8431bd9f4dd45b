"""Checking that a dataset's columns fit a loss: which columns are text, which is the label, and of what kind."""

from __future__ import annotations

import math
from typing import Any

from sentembed.training.losses._base import ColumnSpec

LABEL_COLUMNS = ("label", "score")


def split_columns(dataset: Any) -> tuple[list[str], str | None]:
    """The text columns in order, and the label column ('label' or 'score') if there is one."""
    names = list(dataset.column_names)
    labels = [name for name in names if name in LABEL_COLUMNS]
    if len(labels) > 1:
        raise ValueError(f"a dataset may have one label column, got both {labels}")
    return [name for name in names if name not in LABEL_COLUMNS], (labels[0] if labels else None)


def _feature_kind(feature: Any) -> str:
    """'string', 'int', 'float', 'bool', 'vector', 'string-list' or the feature's own name for a datasets feature."""
    dtype = getattr(feature, "dtype", None)
    if dtype in ("string", "large_string"):
        return "string"
    if dtype == "bool":
        return "bool"
    if dtype is not None and ("int" in dtype):
        return "int"
    if dtype is not None and "float" in dtype:
        return "float"
    inner = getattr(feature, "feature", None)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    if inner is not None:
        inner_kind = _feature_kind(inner)
        return "string-list" if inner_kind == "string" else "vector" if inner_kind in ("int", "float") else "list"
    return type(feature).__name__


def check_label(dataset: Any, column: str, wanted: str, where: str) -> None:
    """Raise ValueError when the label column's values are not of the kind the loss needs."""
    kind = _feature_kind(dataset.features[column])
    accepted = {
        "float": ("float", "int", "bool"),
        "int": ("int", "bool"),
        "binary": ("int", "bool", "float"),
        "vector": ("vector",),
        "int-list": ("vector",),
        "float-list": ("vector",),
        "float-or-vector": ("float", "int", "bool", "vector"),
    }[wanted]
    if kind not in accepted:
        raise ValueError(f"the label column {column!r}{where} holds {kind} values; this loss needs {wanted} labels")
    if is_streaming(dataset):
        return  # the values of a streamed dataset are only seen while training
    if wanted == "binary":
        values = set(dataset[column])
        if not values <= {0, 1}:
            odd = sorted(values - {0, 1})[:5]
            raise ValueError(f"the label column {column!r}{where} must hold 0 or 1; found {odd}")
    if wanted == "float" and any(isinstance(v, float) and math.isnan(v) for v in dataset[column][:1000]):
        raise ValueError(f"the label column {column!r}{where} holds NaN values")


def is_streaming(dataset: Any) -> bool:
    """True for a `datasets.IterableDataset` (or any dataset without a length): read row by row, once."""
    return not hasattr(dataset, "__len__")


def features_hint(dataset: Any) -> str:
    """The `datasets.Features` of a streamed dataset's first row, as code to paste (texts as strings, numbers as
    float32 or int64, lists as List); "{...}" when there is no first row."""
    first = next(iter(dataset), None)
    if not isinstance(first, dict):
        return "{...}"
    return "{" + ", ".join(f"{name!r}: {_feature_code(value)}" for name, value in first.items()) + "}"


def _feature_code(value: Any) -> str:
    if isinstance(value, bool):
        return "Value('bool')"
    if isinstance(value, int):
        return "Value('int64')"
    if isinstance(value, float):
        return "Value('float32')"
    if isinstance(value, (list, tuple)) and value:
        return f"List({_feature_code(value[0])})"
    return "Value('string')"


def check_dataset_fits_loss(
    dataset: Any, spec: ColumnSpec | None, loss_name: str, dataset_name: str | None = None
) -> None:
    """Raise ValueError for an empty dataset, text columns the loss cannot take, or a wrong kind of label.

    A streamed dataset is checked by its declared columns and features alone. `spec` None (a loss written the
    reference's way, a plain `nn.Module` with `forward(features, labels)` and no `columns`) takes any columns."""
    where = f" of dataset {dataset_name!r}" if dataset_name else ""
    if is_streaming(dataset):
        if dataset.column_names is None or dataset.features is None:
            raise ValueError(
                f"the streamed dataset{where.replace(' of', '')} must have Features: it declares no columns (a map() "
                "without features= drops them), so they cannot be checked against the loss. Declare them, e.g. "
                f"dataset.cast(Features({features_hint(dataset)})) or map(..., features=Features(...))"
            )
    elif len(dataset) == 0:
        raise ValueError(f"the training dataset{where.replace(' of', '')} is empty")
    texts, label = split_columns(dataset)
    if spec is None:
        return
    too_few = len(texts) < spec.min_texts
    too_many = spec.max_texts is not None and len(texts) > spec.max_texts
    if too_few or too_many or (label is None) != (spec.label is None):
        raise ValueError(f"{loss_name} expects {spec.describe()}; got columns {list(dataset.column_names)}{where}")
    for column in texts:
        kind = _feature_kind(dataset.features[column])
        if kind not in ("string", "string-list"):
            raise ValueError(f"column {column!r}{where} must hold text, got {kind} values")
    if label is not None:
        check_label(dataset, label, spec.label, where)
