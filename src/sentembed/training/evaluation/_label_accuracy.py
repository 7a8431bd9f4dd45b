"""LabelAccuracyEvaluator: how often a SoftmaxLoss classifier picks the right label for a pair (e.g. NLI)."""

from __future__ import annotations

from typing import Any

import torch

from sentembed.common.batching import batch_to_device
from sentembed.common.protocols import TrainableEncoderModel
from sentembed.training.evaluation._base import SentenceEvaluator
from sentembed.training.input_example import InputExample


class ExampleCollator:
    """InputExamples to ([tokenized features per text column], labels), as the legacy DataLoaders gave them."""

    def __init__(self, model: TrainableEncoderModel) -> None:
        self.model = model

    def __call__(self, examples: list[InputExample]) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
        for index, example in enumerate(examples):
            if not isinstance(example, InputExample):
                raise TypeError(
                    f"LabelAccuracyEvaluator: item {index} is a {type(example).__name__}, not an InputExample"
                )
        columns = [
            self.model.preprocess([example.texts[i] for example in examples]) for i in range(len(examples[0].texts))
        ]
        return columns, torch.tensor([int(example.label) for example in examples])


class LabelAccuracyEvaluator(SentenceEvaluator):
    """Accuracy of `softmax_model` (a trained `SoftmaxLoss`) on a DataLoader of labelled InputExample pairs.

    Args:
        dataloader: A DataLoader of InputExamples with two texts and an int label each.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        softmax_model: The trained SoftmaxLoss whose classifier predicts the labels.
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
    """

    def __init__(self, dataloader: Any, name: str = "", softmax_model: Any = None, write_csv: bool = True) -> None:
        super().__init__(name, write_csv)
        if softmax_model is None or not hasattr(softmax_model, "classifier"):
            raise ValueError("LabelAccuracyEvaluator needs softmax_model: the SoftmaxLoss whose classifier is scored")
        self.dataloader = dataloader
        self.softmax_model = softmax_model
        self.primary_metric = "accuracy"

    @property
    def csv_file(self) -> str:
        return f"accuracy_evaluation{'_' + self.name if self.name else ''}_results.csv"

    def predict_labels(self, model: TrainableEncoderModel, columns: list[dict[str, torch.Tensor]]) -> torch.Tensor:
        """The classifier's label for each pair, from the pair's two embeddings.

        Args:
            model: The model being evaluated.
            columns: The pairs' two tokenized columns.

        Returns:
            The predicted label of each pair.
        """
        embeddings = [
            model(batch_to_device(dict(features), model.device))["sentence_embedding"] for features in columns
        ]
        logits = self.softmax_model.classifier(self.softmax_model.features(embeddings[0], embeddings[1]))
        return logits.argmax(dim=1)

    def __call__(
        self, model: TrainableEncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict:
        model.eval()
        self.dataloader.collate_fn = ExampleCollator(model)
        correct = total = 0
        with torch.no_grad():
            for columns, labels in self.dataloader:
                predicted = self.predict_labels(model, columns)
                correct += int((predicted.cpu() == labels).sum())
                total += len(labels)
        if total == 0:
            raise ValueError("LabelAccuracyEvaluator: the DataLoader holds no examples")
        metrics = {"accuracy": correct / total}
        self.save_csv(output_path, epoch, steps, metrics)
        return self.prefix_name_to_metrics(metrics)

    @property
    def description(self) -> str:
        return "Classification"
