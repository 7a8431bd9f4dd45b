"""Turning dataset rows into model inputs: several datasets as one, and the collator that tokenizes columns."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

from sentembed.training._columns import LABEL_COLUMNS

FEATURE_SUFFIXES = ("input_ids", "attention_mask", "token_type_ids", "offsets", "prompt_length")
Prompts = str | dict[str, Any] | None
# A column's Router route rides along as `{column}_task`; WordEmbeddings rows carry `sentence_lengths`.
ROUTED_SUFFIXES = ("task", "sentence_lengths")


class NamedRows(Dataset):
    """Several datasets addressed as one: global index -> that dataset's row, tagged with the dataset's name."""

    def __init__(self, datasets: dict[str | None, Any]) -> None:
        self.names = list(datasets)
        self.datasets = list(datasets.values())
        self.offsets = [0]
        for dataset in self.datasets:
            self.offsets.append(self.offsets[-1] + len(dataset))

    def __len__(self) -> int:
        return self.offsets[-1]

    @property
    def cumulative_sizes(self) -> list[int]:
        """Where each dataset ends, as a torch `ConcatDataset` reports it (the multi-dataset samplers read it)."""
        return self.offsets[1:]

    def __getitem__(self, index: int) -> dict[str, Any]:
        source = bisect.bisect_right(self.offsets, index) - 1
        row = dict(self.datasets[source][index - self.offsets[source]])
        if self.names[source] is not None:
            row["dataset_name"] = self.names[source]
        return row


def prompt_for(prompts: Prompts, dataset_name: str | None, column: str) -> str | None:
    """The prompt for a column: one string for all, per column, per dataset, or per dataset and column."""
    if prompts is None or isinstance(prompts, str):
        return prompts
    if dataset_name is not None and dataset_name in prompts:
        chosen = prompts[dataset_name]
        return chosen if isinstance(chosen, str) or chosen is None else chosen.get(column)
    chosen = prompts.get(column)
    return chosen if isinstance(chosen, str) else None


def route_for(router_mapping: dict[str, Any] | None, dataset_name: str | None, column: str) -> str | None:
    """The Router route for a column: from a column -> route dict, or a dataset -> column -> route one."""
    if not router_mapping:
        return None
    chosen = router_mapping.get(dataset_name) if dataset_name is not None else None
    if isinstance(chosen, dict):
        return chosen.get(column)
    route = router_mapping.get(column)
    return route if isinstance(route, str) else None


class SentenceCollator:
    """Tokenize every text column into `{column}_input_ids` etc.; the 'label' or 'score' column becomes 'label'.
    With a `router_mapping`, each column is tokenized for its route, which the Router reads back in `forward`."""

    # The columns read as labels, not texts (the reference's collator attribute; batch samplers take it too).
    valid_label_columns: tuple[str, ...] = LABEL_COLUMNS

    def __init__(
        self,
        tokenize: Callable[[list[str]], dict[str, torch.Tensor]],
        prompts: Prompts = None,
        prompt_length: Callable[[str], int] | None = None,
        dataset_name: str | None = None,
        router_mapping: dict[str, Any] | None = None,
    ) -> None:
        self.tokenize = tokenize
        self.router_mapping = router_mapping
        self.prompts = prompts
        self.prompt_length = prompt_length
        self.dataset_name = dataset_name

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        name = rows[0].get("dataset_name", self.dataset_name)
        batch: dict[str, Any] = {}
        for column in rows[0]:
            if column == "dataset_name":
                continue
            values = [row[column] for row in rows]
            if column in LABEL_COLUMNS:
                batch["label"] = torch.tensor(values)
                continue
            prompt = prompt_for(self.prompts, name, column)
            if prompt:
                values = [prompt + value for value in values]
            route = route_for(self.router_mapping, name, column)
            tokenized = self.tokenize(values, task=route) if route is not None else self.tokenize(values)
            for key, tensor in tokenized.items():
                batch[f"{column}_{key}"] = tensor
            if prompt and self.prompt_length is not None:
                length = self.prompt_length(prompt, route) if route is not None else self.prompt_length(prompt)
                batch[f"{column}_prompt_length"] = length
        if name is not None:  # last: transformers reads the batch size from the first value, which must be a tensor
            batch["dataset_name"] = name
        return batch


def unpack_batch(batch: dict[str, Any]) -> tuple[list[dict[str, Any]], torch.Tensor | None]:
    """Per-column feature dicts, in column order, and the labels (or None)."""
    columns: dict[str, dict[str, Any]] = {}
    for key, value in batch.items():
        for suffix in (*FEATURE_SUFFIXES, *ROUTED_SUFFIXES):
            if key.endswith("_" + suffix):
                columns.setdefault(key[: -len(suffix) - 1], {})[suffix] = value
                break
    return list(columns.values()), batch.get("label")
