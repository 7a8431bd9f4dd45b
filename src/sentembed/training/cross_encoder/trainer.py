"""CrossEncoderTrainer: SentenceTransformerTrainer for cross-encoders, whose losses score text pairs themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sentembed.training._columns import LABEL_COLUMNS, split_columns
from sentembed.training._data import prompt_for
from sentembed.training.arguments import SentenceTransformerTrainingArguments
from sentembed.training.cross_encoder.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, ListwiseLoss
from sentembed.training.trainer import SentenceTransformerTrainer


@dataclass
class CrossEncoderTrainingArguments(SentenceTransformerTrainingArguments):
    """The same options as SentenceTransformerTrainingArguments."""


class TextCollator:
    """Keep the text columns as lists of str (the loss pairs and tokenizes them); labels become 'label'.

    `prompts` (the training arguments') go before texts as `predict(prompt=...)` puts them: one string before
    each query (the first column), or a dict per column and/or per dataset.
    """

    # The columns read as labels, not texts (the reference's collator attribute; batch samplers take it too).
    valid_label_columns: tuple[str, ...] = LABEL_COLUMNS

    def __init__(self, dataset_name: str | None = None, prompts: Any = None) -> None:
        self.dataset_name = dataset_name
        self.prompts = prompts

    def prompt(self, dataset_name: str | None, column: str, position: int) -> str | None:
        if isinstance(self.prompts, str):
            return self.prompts if position == 0 else None
        return prompt_for(self.prompts, dataset_name, column)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        name = rows[0].get("dataset_name", self.dataset_name)
        batch: dict[str, Any] = {} if name is None else {"dataset_name": name}
        texts: list[list[Any]] = []
        for column in rows[0]:
            if column == "dataset_name":
                continue
            values = [row[column] for row in rows]
            if column in LABEL_COLUMNS:
                batch["label"] = values if isinstance(values[0], list) else torch.tensor(values)
            else:
                texts.append(prompted(values, self.prompt(name, column, len(texts))))
        batch["texts"] = texts
        return batch


def prompted(values: list[Any], prompt: str | None) -> list[Any]:
    """The prompt before every text of a column (each document, for a column of document lists)."""
    if not prompt:
        return values
    return [[prompt + text for text in value] if isinstance(value, list) else prompt + value for value in values]


def check_listwise_dataset(dataset: Any, loss_name: str, dataset_name: str | None) -> None:
    """Raise ValueError unless rows are (query text, list of documents) with one label per document."""
    where = f" of dataset {dataset_name!r}" if dataset_name else ""
    (query_column, documents_column), label_column = split_columns(dataset)
    rows = zip(dataset[query_column], dataset[documents_column], dataset[label_column], strict=True)
    for index, (query, documents, labels) in enumerate(rows):
        if not isinstance(query, str) or not isinstance(documents, list):
            raise ValueError(
                f"{loss_name} expects rows of (query text, list of documents){where}; row {index} has "
                f"{type(query).__name__} and {type(documents).__name__}"
            )
        if not documents or len(documents) != len(labels):
            raise ValueError(
                f"{loss_name}: row {index}{where} has {len(documents)} documents and {len(labels)} labels; "
                "it needs at least one document and one label per document"
            )


class CrossEncoderTrainer(SentenceTransformerTrainer):
    """Train a `CrossEncoder`; the default loss is BinaryCrossEntropyLoss for one label, else CrossEntropyLoss."""

    @staticmethod
    def arguments_class_name() -> str:
        return "CrossEncoderTrainingArguments"

    def default_loss(self, model: Any) -> nn.Module:
        return BinaryCrossEntropyLoss(model) if model.num_labels == 1 else CrossEntropyLoss(model)

    def make_collator(self, model: Any, args: Any, dataset_name: str | None) -> Any:
        return TextCollator(dataset_name, args.prompts)

    def check_datasets(self) -> None:
        super().check_datasets()
        for name, dataset in [*self.train_datasets.items(), *self.eval_datasets.items()]:
            loss = self.losses.get(name) or next(iter(self.losses.values()))
            if isinstance(loss, ListwiseLoss):
                check_listwise_dataset(dataset, type(loss).__name__, name)

    def compute_loss(
        self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> torch.Tensor | tuple[torch.Tensor, dict]:
        name = inputs.get("dataset_name")
        loss_module = self.losses.get(name) or next(iter(self.losses.values()))
        loss = loss_module(inputs["texts"], inputs.get("label"))
        return (loss, {}) if return_outputs else loss
