"""Metadata filters: which stored rows a search may return, decided before the rows are scored.

A filter is a dict of conditions on top-level metadata keys, all of which must hold: `{"year": 2020}` (equal),
or `{"year": {"$gte": 2010, "$lt": 2020}}` with the operators `$eq $ne $gt $gte $lt $lte $in $nin`. Values are
numbers, strings, booleans or None; `$in`/`$nin` take a list of them. Numbers compare with numbers (a bool is
not a number), strings with strings (by code point); a row without the key, or with a value of another type,
matches only `$ne` and `$nin`. A chunked store filters on its documents' metadata.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.common.files import read_lines
from sentembed.store._manifest import Segment

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
ORDERINGS = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
# The kind of each stored value, for comparisons that never mix types.
MISSING, NUMBER, TEXT, BOOLEAN, NULL, OTHER = range(6)

Condition = tuple[str, str, Any]


def parse_filter(conditions: Any) -> list[Condition]:
    """A filter as (key, operator, operand) triples, each checked; an unknown operator or an operand of the wrong
    kind is a ValueError naming the key and operator."""
    if not isinstance(conditions, dict):
        raise TypeError(f"filter must be a dict of metadata keys, got {type(conditions).__name__}")
    parsed = []
    for key, condition in conditions.items():
        if not isinstance(key, str) or not key or key.startswith("$"):
            raise ValueError(f"filter key {key!r} is not a metadata key (a non-empty string not starting with '$')")
        if not isinstance(condition, dict):
            condition = {"$eq": condition}
        if not condition:
            raise ValueError(f"filter on {key!r} has no operator; use one of {list(OPERATORS)}")
        for name, operand in condition.items():
            parsed.append((key, name, _checked_operand(key, name, operand)))
    return parsed


def _checked_operand(key: str, name: Any, operand: Any) -> Any:
    if name not in OPERATORS:
        raise ValueError(f"filter on {key!r}: unknown operator {name!r}; use one of {list(OPERATORS)}")
    if name in ("$in", "$nin"):
        if not isinstance(operand, (list, tuple)) or not all(_is_scalar(value) for value in operand):
            raise ValueError(f"filter on {key!r}: {name} takes a list of numbers, strings, booleans or None")
        return list(operand)
    if name in ORDERINGS:
        if not _is_number(operand) and not isinstance(operand, str):
            raise ValueError(f"filter on {key!r}: {name} compares with a number or a string, got {operand!r}")
        return operand
    if not _is_scalar(operand):
        raise ValueError(f"filter on {key!r}: {name} takes a number, a string, a boolean or None, got {operand!r}")
    return operand


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def _kind(value: Any) -> int:
    if _is_number(value):
        return NUMBER
    if isinstance(value, str):
        return TEXT
    if isinstance(value, bool):
        return BOOLEAN
    return NULL if value is None else OTHER


@dataclass
class Column:
    """One metadata key over one segment's rows: each value, its kind, and numbers as float64 (NaN otherwise)."""

    values: np.ndarray
    kinds: np.ndarray
    numbers: np.ndarray

    @classmethod
    def of(cls, values: list[Any], present: list[bool]) -> Column:
        kinds = np.array(
            [_kind(value) if here else MISSING for value, here in zip(values, present, strict=True)], dtype=np.uint8
        )
        array = np.empty(len(values), dtype=object)
        array[:] = values
        numbers = np.full(len(values), np.nan)
        is_number = kinds == NUMBER
        numbers[is_number] = np.asarray(array[is_number], dtype=np.float64)
        return cls(array, kinds, numbers)

    def matches(self, name: str, operand: Any) -> np.ndarray:
        """The rows whose value satisfies `name operand`."""
        if name == "$ne":
            return ~self.matches("$eq", operand)
        if name == "$nin":
            return ~self.matches("$in", operand)
        if name == "$in":
            found = np.zeros(len(self.kinds), dtype=bool)
            for value in operand:
                found |= self.matches("$eq", value)
            return found
        kind = _kind(operand)
        chosen = self.kinds == kind
        if kind == NUMBER:
            compare = ORDERINGS.get(name, operator.eq)
            with np.errstate(invalid="ignore"):
                return chosen & compare(self.numbers, operand)
        if kind == NULL:
            return chosen
        result = np.zeros(len(self.kinds), dtype=bool)
        result[chosen] = ORDERINGS.get(name, operator.eq)(self.values[chosen], operand).astype(bool)
        return result


class MetadataColumns:
    """The metadata of a store's rows as columns, read from each segment's records once per key and kept."""

    def __init__(self, folder: Path, chunked: bool) -> None:
        self.folder, self.chunked = folder, chunked
        self._columns: dict[tuple[str, str], Column] = {}

    def mask(self, conditions: list[Condition], segments: list[Segment]) -> np.ndarray:
        """A flag per stored row (in store order): True where every condition holds."""
        keys = list(dict.fromkeys(key for key, _, _ in conditions))
        parts = []
        for segment in segments:
            columns = self._segment_columns(segment, keys)
            keep = np.ones(segment.count, dtype=bool)
            for key, name, operand in conditions:
                keep &= columns[key].matches(name, operand)
            parts.append(keep)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)

    def _segment_columns(self, segment: Segment, keys: list[str]) -> dict[str, Column]:
        missing = [key for key in keys if (segment.name, key) not in self._columns]
        if missing:
            metadata = self._metadata(segment)
            for key in missing:
                present = [isinstance(meta, dict) and key in meta for meta in metadata]
                values = [meta[key] if here else None for meta, here in zip(metadata, present, strict=True)]
                self._columns[segment.name, key] = Column.of(values, present)
        return {key: self._columns[segment.name, key] for key in keys}

    def _metadata(self, segment: Segment) -> list[Any]:
        """Each row's metadata dict (a chunk row's: its document's), or None."""
        if not segment.has_texts:
            return [None] * segment.count
        records = read_lines(self.folder / f"{segment.name}.texts.jsonl")
        metadata = [record.get("metadata") if isinstance(record, dict) else None for record in records]
        if self.chunked:
            metadata = [meta.get("metadata") if isinstance(meta, dict) else None for meta in metadata]
        return metadata
