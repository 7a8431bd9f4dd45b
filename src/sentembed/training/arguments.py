"""SentenceTransformerTrainingArguments: transformers' TrainingArguments plus batching and prompt options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from sentembed.training.samplers import BatchSamplers, MultiDatasetBatchSamplers


@dataclass
class SentenceTransformerTrainingArguments(TrainingArguments):
    """Everything `TrainingArguments` takes, and:

    - `batch_sampler`: "batch_sampler" (shuffled), "no_duplicates" (for in-batch negatives) or "group_by_label";
    - `multi_dataset_batch_sampler`: "proportional" or "round_robin", for a dict of datasets;
    - `prompts`: one string, or a dict per column, per dataset, or per dataset then column.
    """

    batch_sampler: BatchSamplers | str = field(default=BatchSamplers.BATCH_SAMPLER)
    multi_dataset_batch_sampler: MultiDatasetBatchSamplers | str = field(default=MultiDatasetBatchSamplers.PROPORTIONAL)
    prompts: Any = field(default=None)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.batch_sampler = _parse(BatchSamplers, self.batch_sampler, "batch_sampler")
        self.multi_dataset_batch_sampler = _parse(
            MultiDatasetBatchSamplers, self.multi_dataset_batch_sampler, "multi_dataset_batch_sampler"
        )
        if self.prompts is not None and not isinstance(self.prompts, (str, dict)):
            raise TypeError(f"prompts must be a str or a dict, got {type(self.prompts).__name__}")


def _parse(kind: type, value: Any, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"unknown {name} {value!r}; expected one of {[member.value for member in kind]}") from None
