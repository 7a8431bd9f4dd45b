"""Batch samplers with the reference's classes and constructors: shuffled batches, batches without repeated
texts, batches grouped by label, and the ways to interleave batches from several datasets.

Each sampler is seeded: `set_epoch(epoch)` reseeds it with `seed + epoch`; without it, each new pass over
the data draws a new order from the running generator.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any

import torch
from torch.utils.data import BatchSampler, SubsetRandomSampler

from sentembed.common.checks import check_positive_int
from sentembed.training.columns import LABEL_COLUMNS

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
        self.epoch = epoch

    def reseed(self) -> None:
        """Start this epoch's order from `seed + epoch` when the trainer set the epoch."""
        if self.epoch is not None:
            self.generator.manual_seed(self.seed + self.epoch)


def seeded_generator(generator: torch.Generator | None, seed: int) -> torch.Generator:
    """The caller's generator, or a new one seeded with `seed`."""
    if generator is not None:
        return generator
    generator = torch.Generator()
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
    """Shuffled rows in consecutive batches."""

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
        self.reseed()
        return torch.randperm(len(self.dataset), generator=self.generator).tolist()

    def cut(self, order: Sequence[int]) -> list[list[int]]:
        batches = [list(order[start : start + self.batch_size]) for start in range(0, len(order), self.batch_size)]
        return self.without_short_last(batches)

    def without_short_last(self, batches: list[list[int]]) -> list[list[int]]:
        """The batches, less a short last one when `drop_last` asks for that."""
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.cut(self.shuffled())


class NoDuplicatesBatchSampler(DefaultBatchSampler):
    """Shuffled batches in which no text appears twice, so in-batch negatives are never false negatives.

    Rows that would repeat a text are deferred to a later batch; label columns are not compared.
    `precompute_*` are accepted for the reference's signature: the texts of every row are read once, up front.
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
        check_positive_int(precompute_num_proc, "precompute_num_proc", optional=True)
        columns = [column_values(dataset, column) for column in text_columns(dataset, valid_label_columns)]
        self.texts_per_row = [set(map(str, row)) for row in zip(*columns)]

    def __iter__(self) -> Iterator[list[int]]:
        remaining = self.shuffled()
        batches = []
        while remaining:
            batch, seen, deferred = [], set(), []
            for index in remaining:
                if len(batch) < self.batch_size and not (self.texts_per_row[index] & seen):
                    batch.append(index)
                    seen |= self.texts_per_row[index]
                else:
                    deferred.append(index)
            batches.append(batch)
            remaining = deferred
        yield from self.without_short_last(batches)


class GroupByLabelBatchSampler(DefaultBatchSampler):
    """Batches made of same-label pairs, so every row has a positive in its batch (for batch triplet losses).

    The batch size is rounded down to an even number; a label's odd row out waits for the next epoch.
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
        super().__init__(dataset, batch_size - batch_size % 2 or 2, drop_last, valid_label_columns, generator, seed)
        self.by_label: dict[Any, list[int]] = defaultdict(list)
        for index, label in enumerate(column_values(dataset, label_column(dataset, valid_label_columns))):
            self.by_label[label].append(index)
        if not any(len(group) > 1 for group in self.by_label.values()):
            raise ValueError("batch_sampler='group_by_label' needs at least one label shared by two rows")

    def __iter__(self) -> Iterator[list[int]]:
        self.reseed()
        pairs = []
        for group in self.by_label.values():
            order = torch.randperm(len(group), generator=self.generator).tolist()
            pairs += [[group[order[start]], group[order[start + 1]]] for start in range(0, len(group) - 1, 2)]
        pair_order = torch.randperm(len(pairs), generator=self.generator).tolist()
        yield from self.cut([index for position in pair_order for index in pairs[position]])

    def __len__(self) -> int:
        rows = sum(len(group) // 2 * 2 for group in self.by_label.values())
        return rows // self.batch_size if self.drop_last else -(-rows // self.batch_size)


class MultiDatasetDefaultBatchSampler(SetEpochMixin, BatchSampler):
    """Batches of one dataset at a time, from several datasets concatenated into `dataset`.

    Each sampler gives indices within its own dataset; this one shifts them by the dataset's start in the
    concatenation (`dataset.cumulative_sizes`, as a torch `ConcatDataset` has it).
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
                f"the dataset concatenates {len(sizes)} datasets but {len(self.batch_samplers)} batch samplers "
                "were given; build it as a torch ConcatDataset of the datasets the samplers draw from"
            )
        self.offsets = [0, *sizes[:-1]]

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for sampler in self.batch_samplers:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)

    def schedule(self) -> list[int]:
        """The dataset each batch comes from, in order."""
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
