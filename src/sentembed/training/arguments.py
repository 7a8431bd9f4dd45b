"""SentenceTransformerTrainingArguments: transformers' TrainingArguments plus batching and prompt options."""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from transformers import TrainingArguments

from sentembed.training.samplers import BatchSamplers, MultiDatasetBatchSamplers

logger = logging.getLogger(__name__)

# transformers 5 dropped `warmup_ratio` (a float `warmup_steps` is the ratio now); we keep accepting it.
_NATIVE_WARMUP_RATIO = "warmup_ratio" in {argument.name for argument in fields(TrainingArguments)}


@dataclass
class SentenceTransformerTrainingArguments(TrainingArguments):
    """Everything `TrainingArguments` takes (see transformers' documentation), and the arguments below.

    The prompts and both mappings may also be given as JSON object strings, as on a command line
    (`transformers.HfArgumentParser` reads them so).

    Args:
        batch_sampler: "batch_sampler" (shuffled, default), "no_duplicates" (for in-batch negatives),
            "no_duplicates_hashed" (the same batches, the reference's memory-saving variant), "group_by_label",
            or a callable `(dataset, batch_size=, drop_last=, valid_label_columns=, generator=, seed=)` -> batch
            sampler.
        multi_dataset_batch_sampler: "proportional" (default) or "round_robin", for a dict of datasets, or a
            callable `(dataset, batch_samplers=, generator=, seed=)` -> batch sampler.
        prompts: One prompt string, or a dict per column, per dataset, or per dataset then column. Default
            None.
        router_mapping: Column -> Router route ("query", "document", ...), or dataset -> column -> route.
            Default {}.
        learning_rate_mapping: Parameter-name regular expression -> learning rate (the last matching one
            wins). Default {}.
        warmup_ratio: The share of steps to warm up over, also on transformers 5, which dropped it. Default
            None.

    Raises:
        ValueError: An unknown sampler name, malformed prompts or mappings, or both warmup_ratio and
            warmup_steps.
    """

    # The annotations put `str` first and None second where a JSON string is accepted: transformers'
    # HfArgumentParser then reads the command-line value as a string, which __post_init__ parses.
    batch_sampler: BatchSamplers | str | Callable[..., Any] = field(
        default=BatchSamplers.BATCH_SAMPLER, metadata={"help": "How rows are put into batches."}
    )
    multi_dataset_batch_sampler: MultiDatasetBatchSamplers | str | Callable[..., Any] = field(
        default=MultiDatasetBatchSamplers.PROPORTIONAL,
        metadata={"help": "How the batches of several datasets follow each other."},
    )
    prompts: str | None | dict[str, str] | dict[str, dict[str, str]] = field(
        default=None,
        metadata={
            "help": "One prompt, or a JSON object of prompts per column, per dataset, or per dataset and column."
        },
    )
    router_mapping: str | None | dict[str, str] | dict[str, dict[str, str]] = field(
        default_factory=dict,
        metadata={
            "help": 'A JSON object of column -> Router route ("query", "document"), or dataset -> column -> route.'
        },
    )
    learning_rate_mapping: str | None | dict[str, float] = field(
        default_factory=dict,
        metadata={"help": "A JSON object of parameter-name regular expression -> learning rate."},
    )
    if not _NATIVE_WARMUP_RATIO:
        warmup_ratio: float | None = field(default=None)

    def __post_init__(self) -> None:
        if not _NATIVE_WARMUP_RATIO and self.warmup_ratio is not None:
            self._warmup_ratio_as_steps()
        super().__post_init__()
        warn_about_spawned_workers(self.dataloader_num_workers, self.dataloader_persistent_workers)
        self.batch_sampler = _parse(BatchSamplers, self.batch_sampler, "batch_sampler")
        self.multi_dataset_batch_sampler = _parse(
            MultiDatasetBatchSamplers, self.multi_dataset_batch_sampler, "multi_dataset_batch_sampler"
        )
        self.prompts = _prompts(self.prompts)
        self.router_mapping = _mapping(self.router_mapping, "router_mapping", (str, dict))
        self.learning_rate_mapping = _mapping(self.learning_rate_mapping, "learning_rate_mapping", (int, float))

    def to_dict(self) -> dict[str, Any]:
        """The arguments as a dict (for JSON and logs).

        Returns:
            transformers' dict of the arguments, with a callable sampler written as its name.
        """
        values = super().to_dict()
        for key in ("batch_sampler", "multi_dataset_batch_sampler"):
            if callable(values.get(key)):
                values[key] = getattr(values[key], "__qualname__", type(values[key]).__qualname__)
        return values

    def _warmup_ratio_as_steps(self) -> None:
        """transformers 5 reads a float `warmup_steps` below 1 as a ratio of the total steps."""
        if isinstance(self.warmup_ratio, bool) or not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.warmup_steps:
            raise ValueError("give warmup_ratio or warmup_steps, not both")
        logger.warning(
            "The `warmup_ratio` argument is deprecated in transformers 5, which reads a fraction in `warmup_steps`; "
            "using warmup_steps=%s.",
            self.warmup_ratio,
        )
        self.warmup_steps = float(self.warmup_ratio)
        self.warmup_ratio = None  # carried by warmup_steps now, as transformers 5 reads it

    def sync_warmup_ratio(self) -> None:
        """Carry a `warmup_ratio` set after construction (a hyperparameter search trial sets it) into `warmup_steps`.

        Raises:
            ValueError: A ratio outside [0, 1).
        """
        if not _NATIVE_WARMUP_RATIO and self.warmup_ratio is not None:
            if isinstance(self.warmup_ratio, bool) or not 0 <= self.warmup_ratio < 1:
                raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
            self.warmup_steps = float(self.warmup_ratio)


def workers_are_spawned() -> bool:
    """Whether DataLoader worker processes start with "spawn" (fresh interpreters that import everything again),
    without fixing the start method: the one set, else the platform's default."""
    method = multiprocessing.get_start_method(allow_none=True)
    if method is None:
        method = multiprocessing.get_all_start_methods()[0]
    return method == "spawn"


def warn_about_spawned_workers(num_workers: int, persistent: bool) -> None:
    """Spawned DataLoader workers that are not persistent start (and import torch) again every epoch."""
    if num_workers > 0 and not persistent and workers_are_spawned():
        logger.warning(
            "dataloader_num_workers=%d with spawned worker processes: each epoch starts them again, importing "
            "everything anew. Set dataloader_persistent_workers=True to keep them.",
            num_workers,
        )


def _parse(kind: type, value: Any, name: str) -> Any:
    """The enum member `value` names; a callable (a sampler class or factory) is kept as it is."""
    if callable(value):
        return value
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"unknown {name} {value!r}; expected one of {[member.value for member in kind]}") from None


def _prompts(value: Any) -> str | dict[str, Any] | None:
    """The prompts: None, one prompt string, or a dict (also given as a JSON object string, as on a command
    line; a string that is not a JSON object is one prompt)."""
    if value is None or isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise TypeError(f"prompts must be a str or a dict, got {type(value).__name__}")
    if value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(parsed, dict):
            return parsed
    return value


def _mapping(value: Any, name: str, value_types: tuple[type, ...]) -> dict[str, Any]:
    """A dict argument, also given as a JSON string (or None for none), whose values have the expected types."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{name} must be a dict or a JSON object string: {error}") from None
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, value_types) or isinstance(item, bool):
            expected = " or ".join(kind.__name__ for kind in value_types)
            raise TypeError(f"{name}[{key!r}] must map a string to a {expected}, got {item!r}")
    return dict(value)
