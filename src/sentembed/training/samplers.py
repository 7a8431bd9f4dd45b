"""Batch samplers with the reference's classes and constructors: shuffled batches, batches without repeated
texts, batches grouped by label, and the ways to interleave batches from several datasets.

Each sampler is seeded: its generator (the caller's too) starts from `seed`, `set_epoch(epoch)` reseeds it with
`seed + epoch`; without set_epoch, each new pass over the data draws a new order from the running generator.
"""

from __future__ import annotations

import hashlib
import numbers
import pickle
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, SubsetRandomSampler

from sentembed.common.checks import check_positive_int
from sentembed.training._columns import LABEL_COLUMNS

__all__ = [
    "BatchSamplers",
    "DefaultBatchSampler",
    "GroupByLabelBatchSampler",
    "MultiDatasetBatchSamplers",
    "MultiDatasetDefaultBatchSampler",
    "NoDuplicatesBatchSampler",
    "ProportionalBatchSampler",
    "RoundRobinBatchSampler",
    "SetEpochMixin",
    "SubsetRandomSampler",
]


class BatchSamplers(str, Enum):
    """How rows are put into batches (`batch_sampler` argument)."""

    BATCH_SAMPLER = "batch_sampler"
    NO_DUPLICATES = "no_duplicates"
    NO_DUPLICATES_HASHED = "no_duplicates_hashed"
    GROUP_BY_LABEL = "group_by_label"


class MultiDatasetBatchSamplers(str, Enum):
    """How batches from several datasets follow each other (`multi_dataset_batch_sampler` argument)."""

    ROUND_ROBIN = "round_robin"
    PROPORTIONAL = "proportional"


class SetEpochMixin:
    """`set_epoch(epoch)`, which the trainer calls before each epoch so that every epoch has its own order."""

    epoch: int | None = None
    generator: torch.Generator
    seed: int = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch whose order the next pass follows.

        Args:
            epoch: The epoch number.
        """
        self.epoch = epoch

    def reseed(self) -> None:
        """Start this epoch's order from `seed + epoch` when the trainer set the epoch."""
        if self.epoch is not None:
            self.generator.manual_seed(self.seed + self.epoch)


def seeded_generator(generator: torch.Generator | None, seed: int) -> torch.Generator:
    """The caller's generator (or a new one), seeded with `seed`: the first pass's order depends on `seed` alone."""
    generator = generator if generator is not None else torch.Generator()
    generator.manual_seed(seed)
    return generator


def column_values(dataset: Any, column: str) -> list[Any]:
    """One column of a `datasets.Dataset` (or of anything indexable by column name)."""
    return list(dataset[column])


def text_columns(dataset: Any, valid_label_columns: list[str] | None) -> list[str]:
    """The dataset's columns that are not labels."""
    labels = set(valid_label_columns or LABEL_COLUMNS)
    return [column for column in dataset.column_names if column not in labels]


def label_column(dataset: Any, valid_label_columns: list[str] | None) -> str:
    """The first of `valid_label_columns` that the dataset has; ValueError naming them when none is there."""
    candidates = list(valid_label_columns or LABEL_COLUMNS)
    for column in candidates:
        if column in dataset.column_names:
            return column
    raise ValueError(
        f"batch_sampler='group_by_label' needs one of the label columns {candidates}; "
        f"the dataset has {dataset.column_names}"
    )


class DefaultBatchSampler(SetEpochMixin, BatchSampler):
    """Shuffled rows in consecutive batches.

    Args:
        dataset: The training dataset (a `datasets.Dataset`).
        batch_size: Rows per batch.
        drop_last: Drop a last batch that is not full.
        valid_label_columns: The names label columns may have (they are not compared). Default None.
        generator: The random generator to shuffle with. Default None: a new one.
        seed: The seed of the first epoch's order (epoch e uses seed + e). Default 0.

    Raises:
        ValueError: A batch_size that is not a positive int.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        batch_size = check_positive_int(batch_size, "batch_size")
        self.dataset, self.valid_label_columns = dataset, valid_label_columns
        self.generator, self.seed = seeded_generator(generator, seed), seed
        super().__init__(SubsetRandomSampler(range(len(dataset)), generator=self.generator), batch_size, drop_last)

    def shuffled(self) -> list[int]:
        """This epoch's order of the rows.

        Returns:
            Every row index, shuffled.
        """
        self.reseed()
        return torch.randperm(len(self.dataset), generator=self.generator).tolist()

    def cut(self, order: Sequence[int]) -> list[list[int]]:
        """Cut an order of rows into batches.

        Args:
            order: The row indices, in order.

        Returns:
            The batches.
        """
        batches = [list(order[start : start + self.batch_size]) for start in range(0, len(order), self.batch_size)]
        return self.without_short_last(batches)

    def without_short_last(self, batches: list[list[int]]) -> list[list[int]]:
        """The batches, less a short last one when `drop_last` asks for that.

        Args:
            batches: The batches.

        Returns:
            The batches kept.
        """
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.cut(self.shuffled())


PLAIN_VALUES = (str, int, float, bool, bytes, type(None), np.integer, np.floating, np.bool_)
NOT_COMPARED_COLUMNS = ("dataset_name",)


def dedup_key(value: Any) -> str:
    """What makes two dataset values the same for NoDuplicatesBatchSampler: plain values (and lists of them) by
    their text, as `str` writes it (numpy scalars like Python's); other objects (images, arrays, audio) by a digest
    of their pickled content, since their text is truncated or holds a fresh memory address; an unpicklable
    object by its text."""
    if isinstance(value, PLAIN_VALUES):
        return str(value.item() if isinstance(value, np.generic) else value)
    if isinstance(value, (list, tuple)):
        if all(isinstance(item, PLAIN_VALUES) and not isinstance(item, np.generic) for item in value):
            return str(value)
        return "[" + ", ".join(dedup_key(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {dedup_key(item)}" for key, item in value.items()) + "}"
    try:
        return "sha256:" + hashlib.sha256(pickle.dumps(value)).hexdigest()
    except Exception:  # any object pickle refuses: lambdas, open handles, ...
        return str(value)


def check_process_count(value: Any, name: str) -> None:
    """None (the default), or a number of processes: 0 (work in this process) or more."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0):
        raise ValueError(f"{name} must be a non-negative integer (0 works in this process) or None, got {value!r}")


class NoDuplicatesBatchSampler(DefaultBatchSampler):
    """Shuffled batches in which no value appears twice, so in-batch negatives are never false negatives.

    Batches are filled in shuffled order; a row that would repeat a value of the batch waits, at the head of the
    queue, for the next one. Values are compared by `dedup_key` (images and other objects by content); label
    columns and `dataset_name` are not compared. With `drop_last`, every batch that cannot be filled is dropped.
    `precompute_*` are accepted for the reference's signature (precompute_num_proc: 0 or more processes, None
    for the default): the values of every row are read once, up front, in this process.

    Args:
        dataset: The training dataset (a `datasets.Dataset`).
        batch_size: Rows per batch.
        drop_last: Drop a last batch that is not full.
        valid_label_columns: The names label columns may have (they are not compared). Default None.
        generator: The random generator to shuffle with. Default None: a new one.
        seed: The seed of the first epoch's order (epoch e uses seed + e). Default 0.
        precompute_hashes: Accepted for the reference's signature. Default False.
        precompute_num_proc: Accepted for the reference's signature (0 or more, or None). Default None.
        precompute_batch_size: Accepted for the reference's signature (a positive int). Default 1000.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        precompute_hashes: bool = False,
        precompute_num_proc: int | None = None,
        precompute_batch_size: int = 1000,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        check_positive_int(precompute_batch_size, "precompute_batch_size")
        check_process_count(precompute_num_proc, "precompute_num_proc")
        compared = text_columns(dataset, valid_label_columns)
        columns = [column_values(dataset, column) for column in compared if column not in NOT_COMPARED_COLUMNS]
        self.keys_per_row = [set(map(dedup_key, row)) for row in zip(*columns, strict=True)] or [set()] * len(dataset)

    def __iter__(self) -> Iterator[list[int]]:
        remaining = self.shuffled()
        while remaining:
            batch, seen, waiting = [], set(), []
            for position, index in enumerate(remaining):
                if self.keys_per_row[index] & seen:
                    waiting.append(index)
                    continue
                batch.append(index)
                seen |= self.keys_per_row[index]
                if len(batch) == self.batch_size:
                    waiting += remaining[position + 1 :]
                    break
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch
            remaining = waiting


class GroupByLabelBatchSampler(DefaultBatchSampler):
    """Batches in which every row has a positive (a row of its label) and negatives (rows of other labels), for
    the batch triplet losses.

    Each label's rows are shuffled and dealt two at a time; the labels take turns, in a new random order each
    round and never the same label twice running, so every batch mixes labels even when one label dominates.
    The turns stop when fewer than two labels have rows left: a dominant label's surplus (and a label's odd row
    out) waits for another epoch's shuffle. The batch size must be at least 4 (an odd one is rounded down);
    without `drop_last`, a short last batch is kept when it holds 4 rows or more.

    Args:
        dataset: The training dataset (a `datasets.Dataset`).
        batch_size: Rows per batch.
        drop_last: Drop a last batch that is not full.
        valid_label_columns: The names label columns may have (they are not compared). Default None.
        generator: The random generator to shuffle with. Default None: a new one.
        seed: The seed of the first epoch's order (epoch e uses seed + e). Default 0.

    Raises:
        ValueError: A batch size under 4, or a dataset without a label column.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        batch_size = check_positive_int(batch_size, "batch_size")
        if batch_size < 4:
            raise ValueError(
                "batch_sampler='group_by_label' needs batch_size >= 4 (two labels with two rows each), "
                f"got {batch_size}"
            )
        super().__init__(dataset, batch_size - batch_size % 2, drop_last, valid_label_columns, generator, seed)
        groups: dict[Any, list[int]] = defaultdict(list)
        for index, label in enumerate(column_values(dataset, label_column(dataset, valid_label_columns))):
            groups[label].append(index)
        self.by_label = {label: rows for label, rows in groups.items() if len(rows) > 1}
        if len(self.by_label) < 2:
            raise ValueError(
                "batch_sampler='group_by_label' needs at least 2 labels that each have 2 rows or more, "
                f"found {len(self.by_label)}"
            )

    def __iter__(self) -> Iterator[list[int]]:
        self.reseed()
        stream = self.dealt_in_turns(self.shuffled_pairs())
        batches = [stream[start : start + self.batch_size] for start in range(0, len(stream), self.batch_size)]
        if batches and len(batches[-1]) < (self.batch_size if self.drop_last else 4):
            batches.pop()
        yield from batches

    def shuffled_pairs(self) -> dict[Any, deque[int]]:
        """Each label's rows in a new random order, cut to an even count.

        Returns:
            Label -> its rows.
        """
        queues = {}
        for label, rows in self.by_label.items():
            order = torch.randperm(len(rows), generator=self.generator).tolist()
            queues[label] = deque(rows[position] for position in order[: len(rows) // 2 * 2])
        return queues

    def dealt_in_turns(self, queues: dict[Any, deque[int]]) -> list[int]:
        """Two rows of each label in turn, until fewer than two labels have rows left.

        Args:
            queues: Label -> its rows (consumed).

        Returns:
            The rows, in batch order.
        """
        stream: list[int] = []
        labels, previous = list(queues), None
        while len(labels) >= 2:
            labels = [labels[position] for position in torch.randperm(len(labels), generator=self.generator).tolist()]
            if labels[0] == previous:
                labels[0], labels[1] = labels[1], labels[0]
            for label in labels:
                stream += [queues[label].popleft(), queues[label].popleft()]
            previous = labels[-1]
            labels = [label for label in labels if queues[label]]
        return stream

    def __len__(self) -> int:
        pairs = sorted((len(rows) // 2 for rows in self.by_label.values()), reverse=True)
        rows = 2 * sum(min(count, pairs[1]) for count in pairs)
        full, rest = divmod(rows, self.batch_size)
        return full + (1 if not self.drop_last and rest >= 4 else 0)


class MultiDatasetDefaultBatchSampler(SetEpochMixin, BatchSampler):
    """Batches of one dataset at a time, from several datasets concatenated into `dataset`.

    Each sampler gives indices within its own dataset; this one shifts them by the dataset's start in the
    concatenation (`dataset.cumulative_sizes`, as a torch `ConcatDataset` has it).

    Args:
        dataset: The concatenated datasets (a `ConcatDataset`).
        batch_samplers: One batch sampler per dataset.
        generator: The random generator to order the datasets with. Default None: a new one.
        seed: The seed of the first epoch's order. Default 0.
    """

    def __init__(
        self,
        dataset: Any,
        batch_samplers: list[BatchSampler],
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        if not batch_samplers:
            raise ValueError("batch_samplers is empty: give one batch sampler per dataset")
        self.dataset, self.batch_samplers = dataset, list(batch_samplers)
        self.generator, self.seed = seeded_generator(generator, seed), seed
        sizes = list(getattr(dataset, "cumulative_sizes", []))
        if len(sizes) != len(self.batch_samplers):
            raise ValueError(
                "The number of batch samplers must match the number of datasets in the ConcatDataset: "
                f"{len(sizes)} datasets, {len(self.batch_samplers)} batch samplers; build the dataset as a torch "
                "ConcatDataset of the datasets the samplers draw from"
            )
        self.offsets = [0, *sizes[:-1]]

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for sampler in self.batch_samplers:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)

    def schedule(self) -> list[int]:
        """The dataset each batch comes from, in order (each multi-dataset sampler defines it).

        Returns:
            One dataset index per batch.
        """
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        self.reseed()
        iterators = [iter(sampler) for sampler in self.batch_samplers]
        for source in self.schedule():
            yield [self.offsets[source] + index for index in next(iterators[source])]


class RoundRobinBatchSampler(MultiDatasetDefaultBatchSampler):
    """One batch from each dataset in turn, until the smallest runs out (no dataset is over-sampled)."""

    def schedule(self) -> list[int]:
        return list(range(len(self.batch_samplers))) * min(len(sampler) for sampler in self.batch_samplers)

    def __len__(self) -> int:
        return len(self.batch_samplers) * min(len(sampler) for sampler in self.batch_samplers)


class ProportionalBatchSampler(MultiDatasetDefaultBatchSampler):
    """Every batch of every dataset, in a random order: each dataset is drawn in proportion to its size."""

    def schedule(self) -> list[int]:
        schedule = [source for source, sampler in enumerate(self.batch_samplers) for _ in range(len(sampler))]
        return [schedule[position] for position in torch.randperm(len(schedule), generator=self.generator).tolist()]

    def __len__(self) -> int:
        return sum(len(sampler) for sampler in self.batch_samplers)
