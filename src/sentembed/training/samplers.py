"""Batch samplers: plain shuffled batches, batches without repeated texts, batches grouped by label,
and the ways to interleave batches from several datasets."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any

from torch.utils.data import Sampler

from sentembed.common.checks import check_positive_int


class BatchSamplers(str, Enum):
    """How rows are put into batches (`batch_sampler` argument)."""

    BATCH_SAMPLER = "batch_sampler"
    NO_DUPLICATES = "no_duplicates"
    GROUP_BY_LABEL = "group_by_label"


class MultiDatasetBatchSamplers(str, Enum):
    """How batches from several datasets follow each other (`multi_dataset_batch_sampler` argument)."""

    ROUND_ROBIN = "round_robin"
    PROPORTIONAL = "proportional"


class EpochSampler(Sampler):
    """Base: a seeded sampler whose order changes every epoch (via `set_epoch`, or on each new iteration)."""

    def __init__(self, size: int, batch_size: int, drop_last: bool, seed: int, offset: int = 0) -> None:
        batch_size = check_positive_int(batch_size, "batch_size")
        self.size, self.batch_size, self.drop_last = size, batch_size, drop_last
        self.seed, self.offset = seed, offset
        self.epoch: int | None = None
        self.iterations = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _rng(self) -> random.Random:
        epoch = self.epoch if self.epoch is not None else self.iterations
        self.iterations += 1
        return random.Random(self.seed * 100_003 + epoch)

    def batches(self) -> list[list[int]]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches():
            yield [self.offset + index for index in batch]

    def _cut(self, order: Sequence[int]) -> list[list[int]]:
        batches = [list(order[start : start + self.batch_size]) for start in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __len__(self) -> int:
        return self.size // self.batch_size if self.drop_last else -(-self.size // self.batch_size)


class ShuffledBatchSampler(EpochSampler):
    """Shuffled rows in consecutive batches."""

    def batches(self) -> list[list[int]]:
        order = list(range(self.size))
        self._rng().shuffle(order)
        return self._cut(order)


class NoDuplicatesBatchSampler(EpochSampler):
    """Shuffled batches in which no text appears twice, so in-batch negatives are never false negatives."""

    def __init__(self, texts_per_row: list[set[str]], batch_size: int, drop_last: bool, seed: int, offset: int = 0):
        super().__init__(len(texts_per_row), batch_size, drop_last, seed, offset)
        self.texts_per_row = texts_per_row

    def batches(self) -> list[list[int]]:
        remaining = list(range(self.size))
        self._rng().shuffle(remaining)
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
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches


class GroupByLabelBatchSampler(EpochSampler):
    """Batches made of same-label pairs, so every row has a positive in its batch (for batch triplet losses)."""

    def __init__(self, labels: list[Any], batch_size: int, drop_last: bool, seed: int, offset: int = 0) -> None:
        super().__init__(len(labels), batch_size - batch_size % 2 or 2, drop_last, seed, offset)
        self.by_label: dict[Any, list[int]] = defaultdict(list)
        for index, label in enumerate(labels):
            self.by_label[label].append(index)
        if not any(len(group) > 1 for group in self.by_label.values()):
            raise ValueError("group_by_label needs at least one label shared by two rows")

    def batches(self) -> list[list[int]]:
        rng = self._rng()
        pairs = []
        for group in self.by_label.values():
            group = group[:]
            rng.shuffle(group)
            pairs += [group[start : start + 2] for start in range(0, len(group) - 1, 2)]
        rng.shuffle(pairs)
        return self._cut([index for pair in pairs for index in pair])

    def __len__(self) -> int:
        rows = sum(len(group) // 2 * 2 for group in self.by_label.values())
        return rows // self.batch_size if self.drop_last else -(-rows // self.batch_size)


class MultiDatasetBatchSampler(Sampler):
    """Batches of one dataset at a time: in turn until the smallest runs out (round robin), or all of them
    in a random order weighted by size (proportional)."""

    def __init__(self, samplers: list[EpochSampler], how: MultiDatasetBatchSamplers, seed: int) -> None:
        self.samplers, self.how, self.seed = samplers, MultiDatasetBatchSamplers(how), seed
        self.epoch: int | None = None
        self.iterations = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        for sampler in self.samplers:
            sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        iterators = [iter(sampler) for sampler in self.samplers]
        for source in self._schedule():
            yield next(iterators[source])

    def _schedule(self) -> list[int]:
        counts = [len(sampler) for sampler in self.samplers]
        if self.how == MultiDatasetBatchSamplers.ROUND_ROBIN:
            return list(range(len(counts))) * min(counts)
        epoch = self.epoch if self.epoch is not None else self.iterations
        self.iterations += 1
        schedule = [source for source, count in enumerate(counts) for _ in range(count)]
        random.Random(self.seed * 7919 + epoch).shuffle(schedule)
        return schedule

    def __len__(self) -> int:
        counts = [len(sampler) for sampler in self.samplers]
        return len(counts) * min(counts) if self.how == MultiDatasetBatchSamplers.ROUND_ROBIN else sum(counts)
